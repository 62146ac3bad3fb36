"""--detector keypointrcnn: torchvision's keypointrcnn_resnet50_fpn (Keypoint R-CNN, ResNet-50 FPN, COCO-17
keypoints): the Detectron family whose keypoints upstream's released in-the-wild model was trained on.

It needs a torchvision built for the installed PyTorch. PyPI's torchvision wheels are built for PyPI's
(CUDA) torch; with the CPU-only torch from PyTorch's own index they fail at import ("operator
torchvision::nms does not exist"): that is said in one line, naming the torchvision to install.
Weights: torchvision's COCO_V1, which torchvision fetches into torch's hub cache and checks against the
hash in its file name; or a state dict given with --detector-weights (machines without internet).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vp3d.engines import devices
from vp3d.errors import Vp3dError, first_line, needs_extra
from vp3d.io.detections import Detections
from vp3d.io.files import file_sha256

BOX_THRESHOLD = 0.7     # upstream's infer_video_d2.py: cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.7
PERSON = 1              # torchvision's COCO category id of a person
VERSION = 1             # of this detector's use: part of a 2D file's detector record


def import_torchvision():
    """(torch, torchvision.models.detection); Vp3dError in one line where torchvision is missing or does not
    work with the installed torch, naming the torchvision that would."""
    try:
        import torch
    except ModuleNotFoundError:
        raise needs_extra("--detector keypointrcnn", "torch", "torch") from None
    major, minor = (int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
    wanted = f"torchvision==0.{minor + 15}" if major == 2 else "torchvision"      # torch 2.x pairs with 0.(x+15)
    index = " --index-url https://download.pytorch.org/whl/cpu" if "+cpu" in torch.__version__ else ""
    try:
        from torchvision.models import detection
    except ModuleNotFoundError:
        raise Vp3dError(f"--detector keypointrcnn needs torchvision: pip install '{wanted}'{index} "
                        f"(or use --detector rtmpose)") from None
    except Exception as e:            # a torchvision built for another torch: RuntimeError, OSError
        raise Vp3dError(f"--detector keypointrcnn: torchvision does not work with torch {torch.__version__} "
                        f"({first_line(e)}): it is built for another PyTorch; pip install '{wanted}'{index}, "
                        f"or use --detector rtmpose") from None
    return torch, detection


class KeypointRCNNDetector:
    """torchvision's Keypoint R-CNN: frame (H, W, 3) uint8 RGB -> Detections (COCO-17), people scored at
    least BOX_THRESHOLD, best first; keypoint scores are the heatmap maxima (Detectron2's, as upstream stores
    them)."""

    name = "keypointrcnn"
    layout = "coco"

    def __init__(self, weights: str | Path | None = None, device: str = "auto", threads: int | None = None,
                 progress: bool | None = None):
        self.path = Path(weights) if weights is not None else None
        self.weights = file_sha256(self.path) if self.path is not None else "torchvision COCO_V1"
        self.device, self.threads, self.progress = device, threads, progress
        self.model = None
        self.description = "keypointrcnn detector: torchvision keypointrcnn_resnet50_fpn"

    def _load(self):
        """torchvision's model with the weights, on the device (the first frame's work)."""
        torch, detection = import_torchvision()
        self.torch, self.device = torch, devices.resolve_torch_device(self.device)
        if self.threads:
            torch.set_num_threads(self.threads)
        if self.path is not None:
            model = detection.keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None)
            try:
                model.load_state_dict(torch.load(self.path, map_location="cpu", weights_only=True))
            except Exception as e:
                raise Vp3dError(f"{self.path}: not a Keypoint R-CNN ResNet-50 FPN state dict ({first_line(e)})") from None
        else:
            published = detection.KeypointRCNN_ResNet50_FPN_Weights.COCO_V1
            try:
                model = detection.keypointrcnn_resnet50_fpn(weights=published, progress=self.progress is not False)
            except OSError as e:        # URLError is an OSError
                raise Vp3dError(f"cannot fetch {published.url} ({first_line(e)}); without internet, fetch it on "
                                f"another machine and give it with --detector-weights FILE.pth") from None
        self.model = model.eval().to(self.device)

    @property
    def record(self) -> dict:
        return {"name": self.name, "version": VERSION, "weights": [self.weights], "box_threshold": BOX_THRESHOLD}

    def __call__(self, frame: np.ndarray) -> Detections:
        if self.model is None:
            self._load()
        torch = self.torch
        x = torch.from_numpy(frame.copy()).to(self.device).permute(2, 0, 1).float() / 255     # frames are read-only
        with torch.inference_mode():
            out = {k: v.cpu().numpy() for k, v in self.model([x])[0].items()}
        keep = (out["labels"] == PERSON) & (out["scores"] >= BOX_THRESHOLD)
        order = np.argsort(-out["scores"][keep], kind="stable")
        boxes = np.concatenate([out["boxes"][keep], out["scores"][keep, None]], axis=1)[order]
        return Detections(boxes.astype(np.float32), out["keypoints"][keep][order, :, :2].astype(np.float32),
                          out["keypoints_scores"][keep][order].astype(np.float32))
