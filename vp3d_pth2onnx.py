#!/usr/bin/env python3
"""Stage 2: export a VideoPose3D checkpoint (upstream or Ascend layout) to ONNX and check it.

    python vp3d_pth2onnx.py -m vp3d/model_best.bin -o vp3d/vp3d.onnx
"""
import sys

from vp3d import checkpoint, cli
from vp3d.export import atc_command, check_onnx, export_onnx, max_abs_difference
from vp3d.model import LAYOUTS


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("-m", "--model", required=True, help="checkpoint (.bin) saved by upstream run.py or the Ascend recipe")
    p.add_argument("-o", "--onnx", required=True, help="ONNX file to write")
    p.add_argument("--length", type=cli.positive_int, default=6115, help="input frames L (= preprocess --max-length)")
    p.add_argument("--opset", type=cli.positive_int, default=11, help="ONNX opset")
    p.add_argument("--layout", choices=LAYOUTS, default="conv2d_w",
                   help="weight layout of the exported graph: conv2d_w (1xk kernels, time on W) runs fastest in "
                        "ONNX Runtime on CPU; conv2d (kx1, time on H) is the Ascend recipe's layout; conv1d is upstream's. "
                        "The model's input stays 2xLx17x2 in all three, so the ATC command is the same "
                        "(see benchmarks/README.md)")
    p.add_argument("--causal", action="store_true", help="the checkpoint is a causal model")
    p.add_argument("--soc-version", default="Ascend${chip_name}", help="chip for the printed ATC command, e.g. Ascend310P3")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body(a):
        model = checkpoint.load(a.model, layout=a.layout, causal=a.causal)
        c = model.config
        if a.length < c.receptive_field:
            raise cli.Vp3dError(f"--length {a.length} is shorter than the model's receptive field {c.receptive_field}")
        export_onnx(model, a.onnx, a.length, a.opset)
        in_shape, out_shape = check_onnx(a.onnx)
        diff = max_abs_difference(a.onnx, model, a.length)
        print(f"model: filter widths {','.join(map(str, c.filter_widths))}, {c.channels} channels, "
              f"receptive field {c.receptive_field}, layout {a.layout}{', causal' if c.causal else ''}")
        print(f"wrote {a.onnx}: input 2d_poses {'x'.join(map(str, in_shape))}, "
              f"output 3d_preds {'x'.join(map(str, out_shape))} (opset {a.opset}; onnx.checker passed)")
        print(f"ONNX Runtime vs PyTorch on random input: max abs difference {diff:.3g} m")
        print("convert for Ascend with:\n  " + atc_command(a.onnx, in_shape, a.soc_version))
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
