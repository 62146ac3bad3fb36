"""Known-answer stand-ins for OpenMMLab's published detector and RTMPose ONNX files (same input and output
names and shapes), and small videos of bright dots on known paths, for the detector tests.

    person detector  input (1, 3, 640, 640) -> dets (1, 4, 5), labels (1, 4):
                     box 0: a fixed-size box around the brightest pixel of the input (max over channels),
                            score 0.9, label 0 (person)
                     box 1: the same around the brightest pixel of the input's right half, scored by how
                            bright that pixel is (value / 255 x 0.9 - 0.3: a dot of 200 scores 0.41, the
                            letterbox's pad of 114 0.1), label 0
                     box 2: a fixed box scored 0.99, label 1 (not a person: must be ignored)
                     box 3: a fixed box scored 0.1, label 0 (below the box threshold: must be ignored)
    RTMPose          input (B, 3, 256, 192) -> simcc_x (B, 17, 384), simcc_y (B, 17, 512): keypoint k's
                     SimCC vectors are the crop's column and row maxima (max over channels), each bin repeated
                     twice (split ratio 2), times 0.35, shifted by OFFSETS[k]: the nose (k = 0) is the
                     brightest pixel of the crop, the others a standing person's shape around it

So a bright dot at (x, y) of a video frame comes back as the nose at (x, y) through the letterbox, the box,
the crop, the decode and the mapping back to the frame, and keypoint k at (x, y) + OFFSETS[k] x the crop's
scale (frame pixels per crop pixel): what the tests check.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BOX_HALF = 60.0          # the detector's box half-size, input (letterboxed) pixels
OPSET = 17


def _const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


def _argmax_box(nodes: list, gray: str, width: int, prefix: str, x_offset: float) -> str:
    """Nodes computing a (1, 1, 4) box around the argmax of `gray` (1, H, width); returns its name."""
    p = prefix
    nodes += [
        _const(f"{p}shape", np.array([1, -1], np.int64)),
        helper.make_node("Reshape", [gray, f"{p}shape"], [f"{p}flat"]),
        helper.make_node("ArgMax", [f"{p}flat"], [f"{p}idx"], axis=1, keepdims=1),            # (1, 1) int64
        _const(f"{p}w", np.array(width, np.int64)),
        helper.make_node("Div", [f"{p}idx", f"{p}w"], [f"{p}row"]),
        helper.make_node("Mod", [f"{p}idx", f"{p}w"], [f"{p}col"]),
        helper.make_node("Cast", [f"{p}row"], [f"{p}y"], to=TensorProto.FLOAT),
        helper.make_node("Cast", [f"{p}col"], [f"{p}x0"], to=TensorProto.FLOAT),
        _const(f"{p}off", np.array(x_offset, np.float32)),
        helper.make_node("Add", [f"{p}x0", f"{p}off"], [f"{p}x"]),
        helper.make_node("Concat", [f"{p}x", f"{p}y", f"{p}x", f"{p}y"], [f"{p}c"], axis=1),  # (1, 4)
        _const(f"{p}half", np.array([-BOX_HALF, -BOX_HALF, BOX_HALF, BOX_HALF], np.float32)),
        helper.make_node("Add", [f"{p}c", f"{p}half"], [f"{p}box"]),
    ]
    return f"{p}box"


def _brightness(channel: int | None) -> list:
    """Nodes making 'gray' (B, h, w) of 'input' (B, 3, h, w): the max over channels, or one channel only (what
    tells which colour order reached the model)."""
    if channel is None:
        return [helper.make_node("ReduceMax", ["input"], ["gray"], axes=[1], keepdims=0)]
    return [_const("channel", np.array([channel], np.int64)),
            helper.make_node("Gather", ["input", "channel"], ["one"], axis=1),
            helper.make_node("ReduceMax", ["one"], ["gray"], axes=[1], keepdims=0)]


def detector_graph(size: tuple[int, int] = (640, 640), channel: int | None = None) -> bytes:
    """The known-answer person detector (module docstring) for a (w, h) input, as an ONNX file's bytes;
    `channel`: find the brightest pixel of that input channel only."""
    w, h = size
    nodes = _brightness(channel)                                                                # (1, h, w)
    box0 = _argmax_box(nodes, "gray", w, "a_", 0.0)
    nodes += [_const("starts", np.array([w // 2], np.int64)), _const("ends", np.array([w], np.int64)),
              _const("axes", np.array([2], np.int64)),
              helper.make_node("Slice", ["gray", "starts", "ends", "axes"], ["right"])]
    box1 = _argmax_box(nodes, "right", w - w // 2, "b_", float(w // 2))
    nodes += [
        helper.make_node("ReduceMax", ["b_flat"], ["rmax"], axes=[1], keepdims=1),              # (1, 1)
        _const("bright", np.array(0.9 / 255, np.float32)),
        _const("dark", np.array(0.3, np.float32)),
        helper.make_node("Mul", ["rmax", "bright"], ["lit"]),
        helper.make_node("Sub", ["lit", "dark"], ["score1"]),
        _const("score0", np.array([[0.9]], np.float32)),
        helper.make_node("Concat", [box0, "score0"], ["d0"], axis=1),
        helper.make_node("Concat", [box1, "score1"], ["d1"], axis=1),
        _const("d2", np.array([[10, 10, 100, 100, 0.99]], np.float32)),
        _const("d3", np.array([[20, 20, 200, 200, 0.1]], np.float32)),
        helper.make_node("Concat", ["d0", "d1", "d2", "d3"], ["d"], axis=0),                     # (4, 5)
        _const("zero", np.array([0], np.int64)),
        helper.make_node("Unsqueeze", ["d", "zero"], ["dets"]),
        _const("labels", np.array([[0, 0, 1, 0]], np.int64)),
    ]
    graph = helper.make_graph(nodes, "known_answer_detector",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
                              [helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, 4, 5]),
                               helper.make_tensor_value_info("labels", TensorProto.INT64, [1, 4])])
    return _serialised(graph)


# Where the known-answer RTMPose puts each COCO-17 keypoint relative to the brightest pixel of its crop,
# crop pixels (x right, y down): a person facing the camera, the nose on the dot.
OFFSETS = np.array([[0, 0], [6, -5], [-6, -5], [12, -2], [-12, -2], [22, 25], [-22, 25], [30, 45], [-30, 45],
                    [34, 62], [-34, 62], [12, 65], [-12, 65], [13, 95], [-13, 95], [12, 120], [-12, 120]])


def pose_graph(size: tuple[int, int] = (192, 256), joints: int = 17, batch: int | str = 1, ratio: int = 2,
               channel: int | None = None) -> bytes:
    """The known-answer RTMPose (module docstring) for a (w, h) input, `joints` keypoints, batch size `batch`
    (a string: dynamic), as an ONNX file's bytes: keypoint k's SimCC vectors are the crop's column and row
    maxima shifted by OFFSETS[k] pixels, so its argmax is OFFSETS[k] from the crop's brightest pixel;
    `channel`: of that input channel only."""
    w, h = size
    offsets = np.resize(OFFSETS, (joints, 2))
    nodes = _brightness(channel)                                                                # (B, h, w)
    outputs = []
    for axis, n, name in ((1, w, "simcc_x"), (2, h, "simcc_y")):
        bins = np.arange(n * ratio)
        shift = offsets[:, 0 if name == "simcc_x" else 1, None] * ratio
        index = np.clip(bins[None] - shift, 0, n * ratio - 1).astype(np.int64)     # (J, n ratio): v[i - shift]
        nodes += [
            helper.make_node("ReduceMax", ["gray"], [f"{name}_m"], axes=[axis], keepdims=0),   # (B, n)
            _const(f"{name}_scale", np.array(0.35, np.float32)),
            helper.make_node("Mul", [f"{name}_m", f"{name}_scale"], [f"{name}_s"]),
            _const(f"{name}_last", np.array([2], np.int64)),
            helper.make_node("Unsqueeze", [f"{name}_s", f"{name}_last"], [f"{name}_u"]),        # (B, n, 1)
            helper.make_node("Concat", [f"{name}_u"] * ratio, [f"{name}_r"], axis=2),           # (B, n, ratio)
            _const(f"{name}_shape", np.array([-1, n * ratio], np.int64)),
            helper.make_node("Reshape", [f"{name}_r", f"{name}_shape"], [f"{name}_v"]),        # (B, n ratio)
            _const(f"{name}_index", index),
            helper.make_node("Gather", [f"{name}_v", f"{name}_index"], [name], axis=1),        # (B, J, n ratio)
        ]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, joints, n * ratio]))
    graph = helper.make_graph(nodes, "known_answer_rtmpose",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, h, w])], outputs)
    return _serialised(graph)


def _serialised(graph) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_pair(folder: Path, pose_batch: int | str = 1) -> tuple[Path, Path]:
    """The two known-answer graphs as det.onnx and pose.onnx in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "det.onnx").write_bytes(detector_graph())
    (folder / "pose.onnx").write_bytes(pose_graph(batch=pose_batch))
    return folder / "det.onnx", folder / "pose.onnx"


def sdk_zip(onnx_bytes: bytes, name: str, pipeline: dict | None = None) -> bytes:
    """An onnx_sdk zip as OpenMMLab publishes them: <name>/end2end.onnx, <name>/pipeline.json, deploy.json."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}/end2end.onnx", onnx_bytes)
        if pipeline is not None:
            z.writestr(f"{name}/pipeline.json", json.dumps(pipeline))
        z.writestr(f"{name}/deploy.json", json.dumps({"version": "1.3.1", "task": "test"}))
    return buf.getvalue()


def dot_path(t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, 2) pixel positions of the first dot at frames t: a slow circle in the left half of the frame."""
    w, h = size
    a = 2 * np.pi * t / 64
    return np.stack([0.25 * w + 0.12 * w * np.cos(a), 0.5 * h + 0.25 * h * np.sin(a)], axis=1)


def second_dot_path(t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, 2) positions of the second dot: up and down in the right half, dimmer than the first."""
    w, h = size
    return np.stack([np.full(len(t), 0.75 * w), 0.4 * h + 0.15 * h * np.sin(2 * np.pi * t / 50)], axis=1)


def write_dot_video(path: Path, frames: int = 64, size: tuple[int, int] = (160, 120), fps: float = 25.0,
                    second: bool = False) -> np.ndarray:
    """A video of a white 3x3 dot on dark grey moving along dot_path (and with second=True a dimmer dot on
    second_dot_path); returns the dots' centres (T, D, 2), frame pixels."""
    import imageio_ffmpeg
    w, h = size
    t = np.arange(frames)
    paths = [dot_path(t, size)] + ([second_dot_path(t, size)] if second else [])
    centres = np.round(np.stack(paths, axis=1))
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, macro_block_size=1, quality=10,
                                         pix_fmt_out="yuv444p")
    writer.send(None)
    for i in range(frames):
        frame = np.full((h, w, 3), 30, np.uint8)
        for d, value in zip(range(centres.shape[1]), (255, 200)):
            x, y = centres[i, d].astype(int)
            frame[y - 1:y + 2, x - 1:x + 2] = value
        writer.send(frame.tobytes())
    writer.close()
    return centres
