"""Files in every format vp3d reads or writes: atomic writes and tensors, safe .npz, Human3.6M data,
2D keypoint files, pose files and BVH, ONNX metadata, video metadata, animations."""
