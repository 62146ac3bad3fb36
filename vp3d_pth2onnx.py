#!/usr/bin/env python3
"""Stage 2: export a VideoPose3D checkpoint (upstream or Ascend weight layout) to ONNX and check it.

    python vp3d_pth2onnx.py -m vp3d_work/model_best.bin -o vp3d_work/vp3d.onnx                  # L = 6115
    python vp3d_pth2onnx.py -m vp3d_work/model_best.bin -o vp3d_work/vp3d_dyn.onnx --dynamic    # any length
    python vp3d_pth2onnx.py -m vp3d_work/model_best.bin -o vp3d_work/vp3d.onnx --length 2048,4096,6115  # buckets
    python vp3d_pth2onnx.py -m vp3d_work/model_best.bin -o vp3d_work/step.onnx --stream             # one frame per call
"""
import sys
from pathlib import Path

from vp3d import cli
from vp3d.io.files import refuse_overwrite
from vp3d.facts.architecture import WEIGHT_LAYOUTS
from vp3d.model.atc import CHIP_PLACEHOLDER, atc_command
from vp3d.model.export import DEFAULT_WEIGHT_LAYOUT, DEFAULT_OPSET, check_onnx, export_onnx, max_abs_difference
from vp3d.pipeline.sequences import DEFAULT_LENGTH, default_length


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("-m", "--model", required=True, help="checkpoint (.bin) saved by upstream run.py, the Ascend recipe or vp3d_train.py")
    p.add_argument("-o", "--onnx", required=True, help="ONNX file to write (with several --length: NAME_L<length>.onnx each)")
    p.add_argument("--length", type=cli.lengths, default=None,
                   help=f"input frames L (= preprocess --max-length; default: that of the dataset the model's output "
                        f"joints are, {DEFAULT_LENGTH} for Human3.6M's 17, {default_length('humaneva15')} for HumanEva-I's 15); "
                        f"several, like 2048,4096,6115: one static model per bucket")
    p.add_argument("--dynamic", action="store_true",
                   help="a dynamic time axis: one model for inputs of any length (preprocess --max-length 0)")
    p.add_argument("--opset", type=cli.positive_int, default=DEFAULT_OPSET, help="ONNX opset")
    p.add_argument("--weight-layout", choices=WEIGHT_LAYOUTS, default=DEFAULT_WEIGHT_LAYOUT,
                   help="weight layout of the exported graph: conv2d_w (1xk kernels, time on W) runs fastest in "
                        "ONNX Runtime on CPU; conv2d (kx1, time on H) is the Ascend recipe's layout; conv1d is upstream's. "
                        "The model's input stays 2xLx17x2 in all three, so the ATC command is the same")
    p.add_argument("--causal", action="store_true",
                   help="the checkpoint is a causal model (upstream checkpoints cannot tell; vp3d's record it)")
    p.add_argument("--stream", action="store_true",
                   help="export one streaming step instead (docs/streaming.md): the new frame and each layer's state "
                        "in, the newest pose and the new states out, static shapes")
    p.add_argument("--tracks", type=cli.positive_int, default=1,
                   help="with --stream: tracks per call (rows = 2 x tracks: each frame and its mirror)")
    p.add_argument("--soc-version", default=CHIP_PLACEHOLDER, help="chip for the printed ATC command, e.g. Ascend310P3")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dynamic and args.length is not None:
        parser.error("--dynamic and --length exclude each other: a dynamic model takes any length")
    if args.length == []:
        parser.error("--length 0: use --dynamic for a model that takes every sequence at its own length")
    if args.stream and (args.dynamic or args.length is not None):
        parser.error("--stream exports one frame per call: no --length or --dynamic")
    if args.tracks != 1 and not args.stream:
        parser.error("--tracks is for --stream")
    if args.stream:
        return cli.run(export_stream_step, args)

    def body(a):
        from vp3d.model import checkpoint          # torch: the [torch] extra
        model = checkpoint.load(a.model, weight_layout=a.weight_layout, causal=True if a.causal else None)
        c = model.config
        lengths = [None] if a.dynamic else (a.length or [default_length(c.dataset) if c.dataset else DEFAULT_LENGTH])
        if lengths[0] is not None and lengths[0] < c.receptive_field:
            raise cli.Vp3dError(f"--length {lengths[0]} is shorter than the model's receptive field {c.receptive_field}")
        print(f"model: filter widths {c.widths_text}, {c.channels} channels, receptive field {c.receptive_field}, "
              f"{c.num_joints_in} keypoints in, {c.num_joints_out} joints out{f' ({c.dataset})' if c.dataset else ''}, "
              f"weight layout {a.weight_layout}{', dense' if c.dense else ''}{', causal' if c.causal else ''}")
        paths = [Path(a.onnx)] if len(lengths) == 1 else [bucket_path(a.onnx, n) for n in lengths]
        refuse_overwrite([("-o", p) for p in paths], [("-m", a.model)])
        for path, length in zip(paths, lengths):
            export_onnx(model, path, length, a.opset)
            in_shape, out_shape = check_onnx(path)
            # a dynamic export leaves the output's dims unset in the graph: show the shape the facts give
            expected = (2, None if length is None else length - c.receptive_field + 1, c.num_joints_out, 3)
            out_shape = tuple(e if d is None else d for d, e in zip(out_shape or expected, expected))
            shape = lambda dims, unknown: "x".join(unknown if d is None else str(d) for d in dims)
            print(f"wrote {path}: input 2d_poses {shape(in_shape, 'L')}, output 3d_preds "
                  f"{shape(out_shape, f'(L-{c.receptive_field - 1})')} "
                  f"(opset {a.opset}; onnx.checker passed)")
            checks = [length] if length else [c.receptive_field, 3 * c.receptive_field + 17]
            diff = max(max_abs_difference(path, model, n) for n in checks)
            print(f"ONNX Runtime vs PyTorch on random input of {' and '.join(map(str, checks))} frames: "
                  f"max abs difference {diff:.3g} m")
        if lengths[0] is None:
            print("ATC needs fixed shapes: export with --length L (or buckets, --length L1,L2,...) for an Ascend NPU")
            return
        print("convert for Ascend with (one .om per input length):")
        for path, length in zip(paths, lengths):
            print("  " + atc_command(path, a.soc_version))
    return cli.run(body, args)


def export_stream_step(a) -> None:
    """--stream: the streaming step of the checkpoint, checked against the numpy stream on random frames."""
    import numpy as np
    from vp3d.model import checkpoint
    from vp3d.model.folded import from_torch
    from vp3d.model.stream_export import STREAM_OPSET, StepSession, export_stream
    from vp3d.pipeline.stream import StatePool
    model = checkpoint.load(a.model, causal=True if a.causal else None)
    c, folded, rows = model.config, from_torch(model), 2 * a.tracks
    export_stream(folded, a.onnx, rows, {"model_args": c.to_json()})
    session, pool = StepSession(a.onnx), StatePool(folded, rows)
    states = " ".join("x".join(map(str, s)) for s in session.meta["states"])
    print(f"wrote {a.onnx}: input frame {rows}x{folded.channels_in} and states {states}; output pose "
          f"{rows}x{3 * c.num_joints_out} and the new states (opset {STREAM_OPSET}; onnx.checker passed)")
    rng = np.random.default_rng(0)
    diff = 0.0
    for _ in range(2 * c.receptive_field):
        x = rng.uniform(-1, 1, (rows, folded.channels_in)).astype(np.float32)
        diff = max(diff, float(np.abs(session.step(x) - pool.step(np.arange(rows), x)).max()))
    print(f"ONNX Runtime vs the numpy stream over {2 * c.receptive_field} random frames: max abs difference {diff:.3g} m")


def bucket_path(path: str, length: int) -> Path:
    """vp3d.onnx -> vp3d_L2048.onnx: the model of one bucket."""
    p = Path(path)
    return p.with_name(f"{p.stem}_L{length}{p.suffix}")


if __name__ == "__main__":
    sys.exit(main())
