"""The recipe's flow: padding and manifests (sequences), the model path (predict), preprocess, infer, evaluation."""
