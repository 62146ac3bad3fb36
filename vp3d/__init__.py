"""vp3d: VideoPose3D from a PyTorch checkpoint to verified, fast inference.

The stage scripts at the top of the repository (vp3d_preprocess.py, vp3d_pth2onnx.py,
vp3d_infer.py, vp3d_postprocess.py) are thin wrappers over this package.
"""

__version__ = "0.1.0"


class Vp3dError(Exception):
    """A user-facing error: bad input file, bad flag value, missing tool.

    The message is one line naming the file (or value) and what was expected. Stage
    scripts print it to stderr and exit with status 2.
    """


def load_model(path, keypoints: str = "coco", **options):
    """A model ready to lift 2D keypoints to 3D: `vp3d.load_model(path).lift(keypoints, image_size=(w, h))`
    -> (T, 17, 3) metres, camera frame; `.lift_file(path)` -> {video: poses}. See vp3d.lift.load_model for
    the options (backend, device, precision, threads, causal, chunk)."""
    from .lift import load_model as _load
    return _load(path, keypoints, **options)
