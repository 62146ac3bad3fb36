"""2D keypoint detectors run on a video's frames (vp3d_detect.py, vp3d_lift.py VIDEO): OpenMMLab's person
detector + RTMPose on ONNX Runtime (rtmpose), torchvision's Keypoint R-CNN (keypointrcnn); the 2D file
they write is upstream's infer_video_d2.py output (io.detections)."""
