#!/usr/bin/env python3
"""Static int8 post-training quantization of an exported ONNX model, calibrated on preprocessed inputs.

    python vp3d_quantize.py --model vp3d/vp3d.onnx --calibration vp3d/prep_dataset -o vp3d/vp3d_int8.onnx
"""
import sys

from vp3d import cli
from vp3d.io.files import refuse_overwrite
from vp3d.model.quantize import FAST_FP32, METHODS, ROLES, SAFE_FP32, QuantizeConfig, count_ops, quantize


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="fp32 ONNX model (vp3d_pth2onnx.py output)")
    p.add_argument("--calibration", required=True,
                   help="vp3d_preprocess.py output directory (or its inputs/): float32 2xLx17x2 .bin inputs")
    p.add_argument("-o", "--output", required=True, help="int8 ONNX model to write (QDQ format)")
    p.add_argument("--inputs", type=cli.positive_int, default=QuantizeConfig.inputs,
                   help="calibration inputs, spread evenly over the sorted files (more: slower, steadier ranges)")
    p.add_argument("--frames", type=cli.positive_int, default=None,
                   help="frames per calibration window for a dynamic-length model (a random stretch of each "
                        "longer input; bounds calibration time and memory); a fixed-length model uses its own L")
    p.add_argument("--method", choices=METHODS, default=QuantizeConfig.method,
                   help="activation range: minmax (every value), entropy or percentile (clip the tail)")
    p.add_argument("--percentile", type=float, default=QuantizeConfig.percentile, help="for --method percentile")
    p.add_argument("--fp32", default="auto",
                   help=f"comma-separated parts that stay fp32: {', '.join(ROLES)} (the last conv of each "
                        f"residual block), op types (Add) or node names; 'none' quantizes every Conv, Relu and "
                        f"Add; 'auto': {','.join(FAST_FP32)}, or {','.join(SAFE_FP32)} where the former moves "
                        f"the poses by more than --tolerance")
    p.add_argument("--tolerance", type=float, default=QuantizeConfig.tolerance_mm,
                   help="mm: the mean per-joint deviation from fp32's poses, on inputs calibration did not read, "
                        "that --fp32 auto accepts")
    p.add_argument("--quantize-residual", action="store_true",
                   help="let the residual path read the quantized tensor too (smaller graph, less accurate)")
    p.add_argument("--symmetric", action="store_true", help="int8 activations without zero points (default uint8)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor (default per output channel)")
    p.add_argument("--no-equalize", action="store_true",
                   help="quantize the graph as exported, without first rescaling channels to suit int8 "
                        "(the rescaling leaves the fp32 function unchanged; see vp3d.model.quantize.equalize)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration window offsets")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 < args.percentile <= 100:
        parser.error(f"--percentile must be in (0, 100], got {args.percentile}")
    word = args.fp32.strip().lower()
    fp32 = () if word == "none" else None if word == "auto" else tuple(w.strip() for w in args.fp32.split(",") if w.strip())

    def body(a):
        config = QuantizeConfig(inputs=a.inputs, frames=a.frames, method=a.method, percentile=a.percentile,
                                fp32=fp32, symmetric_activations=a.symmetric, per_channel=not a.per_tensor,
                                fp32_residual=not a.quantize_residual, seed=a.seed, equalize=not a.no_equalize,
                                tolerance_mm=a.tolerance)
        refuse_overwrite([("-o", a.output)], [("--model", a.model)])
        info = quantize(a.model, a.calibration, a.output, config)
        ops = count_ops(a.output)
        print(f"calibrated on {info['files']} inputs ({info['frames'] or 'all'} frames each, {info['method']})")
        if info["equalized"]:
            print(f"equalized channels: residual stream scales spread {info['equalized']['stream']:.0f}x")
        for kept, mm in info["attempts"]:
            seen = "calibration did not read" if info["unseen"] else "of the calibration's: there are no others"
            print(f"--fp32 {kept}: poses {mm:.2f} mm from fp32's on average ({info['checked_on']} inputs {seen})"
                  + (f", over the {a.tolerance} mm tolerance" if mm > a.tolerance else ""))
        print(f"kept --fp32 {info['kept']}: {', '.join(info['fp32_nodes'] + info['fp32_op_types']) or 'nothing'} in fp32")
        if info["deviation_mm"] > a.tolerance:
            print("warning: still over the tolerance: calibrate on inputs like the ones you will run, keep more fp32 "
                  "(--fp32), or run the fp32 model (bf16 on OpenVINO costs far less accuracy)")
        print(f"wrote {a.output}: {ops.get('QuantizeLinear', 0)} QuantizeLinear, "
              f"{ops.get('DequantizeLinear', 0)} DequantizeLinear, {ops.get('Conv', 0)} Conv")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
