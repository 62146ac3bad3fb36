"""The network: TemporalModel (torch), checkpoints of every weight layout, ONNX export, ATC commands, int8."""
