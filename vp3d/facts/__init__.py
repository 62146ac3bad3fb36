"""The model's facts, torch-free: architecture (ModelConfig), skeletons and keypoint layouts, cameras, metrics."""
