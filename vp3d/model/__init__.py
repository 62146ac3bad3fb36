"""The network: TemporalModel (torch), checkpoints of every layout, ONNX export, ATC commands, int8."""
