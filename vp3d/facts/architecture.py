"""The model's facts: architecture, receptive field, causality, the keypoints it was trained on; FLOPs.

Torch-free, so that inference from ONNX and postprocessing can read and check them without torch.
Checkpoints that vp3d writes carry them as 'model_args' (ModelConfig.to_json), exported ONNX files in
their metadata, so that every later stage can check its inputs against the model.
"""
from __future__ import annotations

from dataclasses import dataclass

from vp3d.facts.datasets import dataset, dataset_with_joints, datasets
from vp3d.facts.skeleton import Symmetry

WEIGHT_LAYOUTS = ("conv1d", "conv2d", "conv2d_w")
H36M_FPS = dataset("h36m").fps     # 50: upstream's Human3.6M models and vp3d's synthetic data were trained at it


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a TemporalModel; checkpoint.py reads it off a state dict."""

    filter_widths: tuple[int, ...] = (3, 3, 3, 3, 3)  # odd widths; RF = product
    channels: int = 1024            # width of every hidden layer
    num_joints_in: int = 17         # 2D keypoints in: 17 for Human3.6M and COCO, 15 for HumanEva's ground truth
    in_features: int = 2            # 2D keypoints
    num_joints_out: int = 17        # 3D joints out: the dataset's skeleton
    causal: bool = False            # causal models see only past frames
    dropout: float = 0.25           # training only
    layout: str = "conv1d"          # one of WEIGHT_LAYOUTS
    keypoint_symmetry: tuple | None = None  # ((left...), (right...)) of the 2D keypoints trained on; None: unknown
    fps: float | None = None        # frames per second of the sequences trained on; None: the dataset's (else 50)
    dataset: str | None = None      # whose skeleton the output joints are (facts.datasets); None: the one with
                                    # num_joints_out joints (17: 'h36m', 15: 'humaneva15'), where there is one

    def __post_init__(self):
        if self.layout not in WEIGHT_LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {WEIGHT_LAYOUTS}")
        bad = [w for w in self.filter_widths if w < 1 or w % 2 == 0]
        if bad or not self.filter_widths:
            raise ValueError(f"filter widths must be odd and positive, got {self.filter_widths}")
        object.__setattr__(self, "filter_widths", tuple(int(w) for w in self.filter_widths))
        if self.dataset is None:
            found = dataset_with_joints(self.num_joints_out)
            object.__setattr__(self, "dataset", found.name if found else None)
        else:
            facts = datasets().get(self.dataset) if isinstance(self.dataset, str) else None
            if facts is None or facts.num_joints != self.num_joints_out:
                raise ValueError(f"dataset {self.dataset!r} does not fit {self.num_joints_out} output joints")
        if self.fps is None:
            object.__setattr__(self, "fps", dataset(self.dataset).fps if self.dataset else H36M_FPS)
        if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)) or not 0 < self.fps < float("inf"):
            raise ValueError(f"fps must be a positive number of frames per second, got {self.fps!r}")
        object.__setattr__(self, "fps", float(self.fps))
        if self.keypoint_symmetry is not None:
            sym = Symmetry(*self.keypoint_symmetry)          # checks it
            object.__setattr__(self, "keypoint_symmetry", (sym.left, sym.right))

    @property
    def symmetry(self) -> Symmetry | None:
        """The 2D keypoints' Symmetry, where the artifact recorded it."""
        return Symmetry(*self.keypoint_symmetry) if self.keypoint_symmetry is not None else None

    @property
    def widths_text(self) -> str:
        """'3,3,3,3,3': the -arc argument of the scripts."""
        return ",".join(map(str, self.filter_widths))

    def to_json(self) -> dict:
        """The model_args that checkpoints and ONNX metadata carry (lists and numbers only)."""
        obj = dict(self.__dict__, filter_widths=list(self.filter_widths))
        obj["keypoint_symmetry"] = None if self.keypoint_symmetry is None else [list(s) for s in self.keypoint_symmetry]
        return obj

    @classmethod
    def from_json(cls, obj: dict) -> "ModelConfig":
        """Inverse of to_json; ValueError on anything else."""
        if not isinstance(obj, dict):
            raise ValueError(f"model_args must be a dict, got {type(obj).__name__}")
        known = {f: obj[f] for f in cls.__dataclass_fields__ if f in obj}
        try:
            return cls(**known)
        except TypeError as e:
            raise ValueError(str(e)) from None

    @property
    def receptive_field(self) -> int:
        """Input frames that one output frame sees (243 for 3,3,3,3,3)."""
        rf = 1
        for w in self.filter_widths:
            rf *= w
        return rf

    @property
    def pad(self) -> int:
        """(RF - 1) / 2: frames of context each side (for causal models, all on the past side)."""
        return (self.receptive_field - 1) // 2

    @property
    def causal_shift(self) -> int:
        """How far the output is shifted towards the past: pad for causal models, else 0."""
        return self.pad if self.causal else 0

    def replace(self, **changes) -> "ModelConfig":
        return ModelConfig(**{**self.__dict__, **changes})


def count_flops(config: ModelConfig, frames_in: int, batch: int = 1) -> int:
    """Floating-point operations (2 per multiply-add) of the convolutions for `batch` inputs of
    `frames_in` frames. Batch norm, ReLU and the residual adds are left out (< 0.1 %)."""
    c = config
    flops, t = 0, frames_in
    t -= c.filter_widths[0] - 1
    flops += 2 * t * c.channels * c.num_joints_in * c.in_features * c.filter_widths[0]
    dilation = c.filter_widths[0]
    for w in c.filter_widths[1:]:
        t -= (w - 1) * dilation
        flops += 2 * t * c.channels * c.channels * (w + 1)
        dilation *= w
    flops += 2 * t * c.channels * c.num_joints_out * 3
    return batch * flops


def causal_kind(causal: bool) -> str:
    """'a causal' or 'a non-causal': how errors name a model's or inputs' causality."""
    return "a causal" if causal else "a non-causal"
