"""vp3d: VideoPose3D from a PyTorch checkpoint to verified, fast inference, and users' videos lifted to 3D.

    model = vp3d.load_model("model.onnx")                          # or a checkpoint .bin, an OpenVINO .xml
    poses = model.lift(keypoints, image_size=(1920, 1080))          # (T, 17, 3) metres, camera frame

Subpackages, from the bottom up (each imports only those below it; DESIGN.md draws the map):
errors · facts (model facts, skeletons, cameras, metrics) · io (files in every format) · model (the
network, checkpoints, ONNX export, int8) · engines (devices, runtime sessions) · pipeline (padding,
the model path, the recipe's stages) · training, viz · lift (load_model) on top.
"""
from vp3d.errors import Vp3dError, check_core

check_core()      # a Python without numpy, onnx, ...: one line saying what to install, not a traceback

__version__ = "0.1.0"
__all__ = ["Vp3dError", "load_model", "__version__"]


def load_model(path, layout: str | None = None, **options):
    """A model ready to lift 2D keypoints to 3D: `vp3d.load_model(path).lift(keypoints, image_size=(w, h))`
    -> (T, 17, 3) metres, camera frame; `.lift_file(path)` -> {video: poses}. See vp3d.lift.load_model for
    the options (backend, device, precision, threads, causal, chunk)."""
    from vp3d.lift import load_model as _load
    return _load(path, layout, **options)
