"""The model's facts: architecture, receptive field, causality, the keypoints it was trained on; FLOPs.

Torch-free, so that inference from ONNX and postprocessing can read and check them without torch.
Checkpoints that vp3d writes carry them as 'model_args' (ModelConfig.to_json), exported ONNX files in
their metadata, so that every later stage can check its inputs against the model.
"""
from __future__ import annotations

from collections.abc import Sequence
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
    dense: bool = False             # dense convolutions instead of dilated ones (upstream's --dense ablation):
                                    # the same frames seen, every one of them weighted (wide_convs)
    dropout: float = 0.25           # training only
    weight_layout: str = "conv1d"   # one of WEIGHT_LAYOUTS
    keypoint_symmetry: tuple | None = None  # ((left...), (right...)) of the 2D keypoints trained on; None: unknown
    fps: float | None = None        # frames per second of the sequences trained on; None: the dataset's (else 50)
    dataset: str | None = None      # whose skeleton the output joints are (facts.datasets); None: the one with
                                    # num_joints_out joints (17: 'h36m', 15: 'humaneva15'), where there is one

    def __post_init__(self):
        if self.weight_layout not in WEIGHT_LAYOUTS:
            raise ValueError(f"weight layout {self.weight_layout!r} is not one of {WEIGHT_LAYOUTS}")
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
        """Inverse of to_json; ValueError on anything else. Reads artifacts written before the weight layout's
        key was 'weight_layout' (their 'layout')."""
        if not isinstance(obj, dict):
            raise ValueError(f"model_args must be a dict, got {type(obj).__name__}")
        if "layout" in obj and "weight_layout" not in obj:
            obj = {**obj, "weight_layout": obj["layout"]}
        known = {f: obj[f] for f in cls.__dataclass_fields__ if f in obj}
        try:
            return cls(**known)
        except TypeError as e:
            raise ValueError(str(e)) from None

    @property
    def arc_text(self) -> str:
        """'dilated 3,3,3' or 'dense 3,3,3': how messages name an architecture."""
        return f"{'dense' if self.dense else 'dilated'} {self.widths_text}"

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
        return pad_frames(self.receptive_field)

    @property
    def causal_shift(self) -> int:
        """How far the output is shifted towards the past: pad for causal models, else 0."""
        return self.pad if self.causal else 0

    @property
    def wide_convs(self) -> tuple[tuple[int, int], ...]:
        """Per block, (kernel width, dilation) of its wide convolution. Block i (width w, after widths whose
        product is d) reads p = (w - 1) d / 2 frames on each side: dilated, w taps d frames apart; dense, all
        2p + 1 frames (upstream's --dense). The residual is the middle frame (causal: the newest) either way."""
        out, d = [], self.filter_widths[0]
        for w in self.filter_widths[1:]:
            out.append(((w - 1) * d + 1, 1) if self.dense else (w, d))
            d *= w
        return tuple(out)

    def replace(self, **changes) -> "ModelConfig":
        return ModelConfig(**{**self.__dict__, **changes})


def pad_frames(receptive_field: int) -> int:
    """(RF - 1) / 2: the frames of context on each side of the frame a symmetric model predicts (121 for 243); a
    causal model has RF - 1 = 2 pad, all on the past side."""
    return (receptive_field - 1) // 2


def count_flops(config: ModelConfig, frames_in: int, batch: int = 1) -> int:
    """Floating-point operations (2 per multiply-add) of the convolutions for `batch` inputs of
    `frames_in` frames. Batch norm, ReLU and the residual adds are left out (< 0.1 %)."""
    c = config
    flops, t = 0, frames_in
    t -= c.filter_widths[0] - 1
    flops += 2 * t * c.channels * c.num_joints_in * c.in_features * c.filter_widths[0]
    for kernel, dilation in c.wide_convs:
        t -= (kernel - 1) * dilation
        flops += 2 * t * c.channels * c.channels * (kernel + 1)
    flops += 2 * t * c.channels * c.num_joints_out * 3
    return batch * flops


def widths_of_kernels(kernels: Sequence[int], dense: bool | None = None) -> tuple[tuple[int, ...], bool]:
    """(filter widths, dense) of the model whose expand conv and blocks' wide convs have these kernel widths
    (ModelConfig.wide_convs inverted). dense None: read off the kernels, dense where they are a dense model's
    (kernel (w - 1) d + 1 for odd widths w) that differs from the dilated one of the same kernels. Where both
    are possible (a dilated block at least 2d + 1 wide: dilated 3,7 has the kernels of dense 3,3) it is dense;
    vp3d's artifacts record which. ValueError where dense=True and the kernels are no dense model's."""
    widths, d, fits = [kernels[0]], kernels[0], True
    for k in kernels[1:]:
        fits = fits and (k - 1) % d == 0 and (k - 1) // d % 2 == 0
        widths.append((k - 1) // d + 1 if fits else k)
        d *= widths[-1]
    if dense is None:
        dense = fits and tuple(widths) != tuple(kernels)
    elif dense and not fits:
        raise ValueError(f"kernels {','.join(map(str, kernels))} are not a dense model's (2p + 1 frames, "
                         f"p = (w - 1) / 2 times the frames before)")
    return (tuple(widths) if dense else tuple(kernels)), dense


def causal_kind(causal: bool) -> str:
    """'a causal' or 'a non-causal': how errors name a model's or inputs' causality."""
    return "a causal" if causal else "a non-causal"
