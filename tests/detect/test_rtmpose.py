"""--detector rtmpose through its real pre- and post-processing (letterbox, box filter, crop, decode, mapping
back), on known-answer graphs with the published files' input and output names and shapes."""
import numpy as np
import pytest
from detector_graphs import BOX_HALF, OFFSETS, detector_graph, pose_graph

from vp3d.detect.rtmpose import RTMDET, YOLOX, RTMPoseDetector, check_pose
from vp3d.detect.weights import ModelFile
from vp3d.errors import Vp3dError

SIZE = (160, 120)
SCALE = 640 / 160                              # the letterbox's: 160x120 -> 640x480
HALF = BOX_HALF / SCALE                        # the known-answer box's half-size in frame pixels: 15
STEP = 2 * HALF * 1.25 / 192                   # frame pixels per crop pixel: the 30-pixel box padded by 1.25


def model(onnx: bytes, where: str, pipeline: dict | None = None) -> ModelFile:
    return ModelFile(where, onnx, pipeline, "0" * 64)


def frame_with(dots: dict, size=SIZE) -> np.ndarray:
    """A dark frame with 3x3 dots {(x, y): (r, g, b)}."""
    frame = np.full((size[1], size[0], 3), 30, np.uint8)
    for (x, y), rgb in dots.items():
        frame[y - 1:y + 2, x - 1:x + 2] = rgb
    return frame


def pose_pipeline(to_rgb: bool, ratio: float = 2.0) -> dict:
    """An RTMPose pipeline.json as MMDeploy writes it (the parts vp3d reads)."""
    return {"pipeline": {"tasks": [
        {"type": "Task", "module": "Transform", "transforms": [
            {"type": "LoadImageFromFile"}, {"type": "TopDownGetBboxCenterScale", "padding": 1.25},
            {"type": "TopDownAffine", "image_size": [192, 256]},
            {"type": "Normalize", "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_rgb": to_rgb}]},
        {"type": "Task", "module": "Net", "name": "pose"},
        {"type": "Task", "module": "mmpose", "component": "SimCCLabelDecode", "params": {"simcc_split_ratio": ratio}}]}}


@pytest.fixture(scope="module")
def detector():
    return RTMPoseDetector(model(detector_graph(), "det.onnx"), model(pose_graph(), "pose.onnx"), "cpu", 1)


@pytest.mark.parametrize("x, y", [(40, 60), (25, 31), (57, 88)])
def test_a_dot_comes_back_where_it_is(detector, x, y):
    found = detector(frame_with({(x, y): (255, 255, 255)}))
    assert len(found) == 1                     # the label-1 box and the box scored 0.1 are not people
    np.testing.assert_allclose(found.boxes[0], [x - HALF, y - HALF, x + HALF, y + HALF, 0.9], atol=1.0)
    # the nose on the dot, every keypoint at its offset in crop pixels times the crop's scale: within a pixel
    np.testing.assert_allclose(found.keypoints[0, 0], [x, y], atol=1.0)
    np.testing.assert_allclose(found.keypoints[0], [x, y] + OFFSETS * STEP, atol=1.0)
    assert found.keypoints.shape == (1, 17, 2) and found.scores.shape == (1, 17)


def test_every_person_best_first_and_a_batched_pose_model_agrees(detector):
    frame = frame_with({(40, 60): (255, 255, 255), (120, 50): (200, 200, 200)})
    found = detector(frame)
    assert len(found) == 2
    np.testing.assert_allclose(found.boxes[:, 4], [0.9, 200 * 0.9 / 255 - 0.3], atol=1e-3)
    np.testing.assert_allclose(found.keypoints[:, 0], [[40, 60], [120, 50]], atol=1.0)
    batched = RTMPoseDetector(model(detector_graph(), "det.onnx"), model(pose_graph(batch="n"), "pose.onnx"), "cpu", 1)
    assert batched.batched and not detector.batched
    np.testing.assert_array_equal(batched(frame).keypoints, found.keypoints)


def test_colour_orders_follow_the_published_pipelines():
    """YOLOX takes OpenCV's BGR frame, RTMPose RGB (bgr_to_rgb=True): graphs that look at input channel 0
    only see the blue dot in the detector and the red one in RTMPose; a pipeline.json saying to_rgb false
    makes RTMPose see blue."""
    blue, red = (40, 60), (48, 60)
    frame = frame_with({blue: (0, 0, 255), red: (255, 0, 0)})
    det = model(detector_graph(channel=0), "yolox/end2end.onnx")
    found = RTMPoseDetector(det, model(pose_graph(channel=0), "pose.onnx"), "cpu", 1)(frame)
    np.testing.assert_allclose(found.boxes[0, :4], [*np.subtract(blue, HALF), *np.add(blue, HALF)], atol=1.0)
    np.testing.assert_allclose(found.keypoints[0, 0], red, atol=1.0)
    bgr = RTMPoseDetector(det, model(pose_graph(channel=0), "pose.onnx", pose_pipeline(to_rgb=False)), "cpu", 1)
    np.testing.assert_allclose(bgr(frame).keypoints[0, 0], blue, atol=1.0)


def test_the_box_threshold_comes_from_the_detectors_pipeline():
    pipeline = {"pipeline": {"tasks": [{"type": "Task", "module": "mmdet", "component": "ResizeBBox",
                                        "params": {"score_thr": 0.95}}]}}
    strict = RTMPoseDetector(model(detector_graph(), "det.onnx", pipeline), model(pose_graph(), "pose.onnx"), "cpu", 1)
    assert strict.box_threshold == 0.95
    assert len(strict(frame_with({(40, 60): (255, 255, 255)}))) == 0          # the 0.9 box is below it
    # a pipeline without transforms leaves the preprocessing to the model family's (RTMDet: BGR, its mean, std)
    rtmdet = RTMPoseDetector(model(detector_graph(), "rtmdet_nano/end2end.onnx", pipeline),
                             model(pose_graph(), "pose.onnx"), "cpu", 1)
    assert rtmdet.det_prep == RTMDET and strict.det_prep == YOLOX


def test_the_split_ratio_is_the_models_own():
    three = model(pose_graph(ratio=3), "pose3.onnx")
    assert check_pose(three) == ((192, 256), 3.0, False)
    found = RTMPoseDetector(model(detector_graph(), "det.onnx"), three, "cpu", 1)(frame_with({(40, 60): (255,) * 3}))
    np.testing.assert_allclose(found.keypoints[0, 0], [40, 60], atol=1.0)
    with pytest.raises(Vp3dError, match=r"pose3\.onnx: SimCC vectors of 576 and 768 bins .* \(split ratio 2\)"):
        check_pose(model(pose_graph(ratio=3), "pose3.onnx", pose_pipeline(True, ratio=2.0)))


GRAPHS = {"det": detector_graph, "pose": pose_graph, "pose26": lambda: pose_graph(joints=26)}


@pytest.mark.parametrize("det, pose, message", [
    ("pose", "pose", r"det\.onnx: inputs 'input' \(1, 3, 256, 192\), outputs 'simcc_x' .*; expected input 'input' "
                     r"\(1, 3, H, W\) -> 'dets' \(1, N, 5\), 'labels' \(1, N\)"),
    ("det", "det", r"pose\.onnx: inputs 'input' \(1, 3, 640, 640\), .*; expected input 'input' \(B, 3, h, w\) -> "
                   r"'simcc_x'"),
    ("det", "pose26", r"pose\.onnx: gives 26 keypoints per person; vp3d's lifting models take COCO-17"),
])
def test_files_of_another_signature_are_refused_naming_them(det, pose, message):
    with pytest.raises(Vp3dError, match=message) as e:
        RTMPoseDetector(model(GRAPHS[det](), "det.onnx"), model(GRAPHS[pose](), "pose.onnx"), "cpu")
    assert "\n" not in str(e.value)
