"""Training: upstream's supervised recipe (train) and the synthetic Human3.6M-format data it is tested on."""
