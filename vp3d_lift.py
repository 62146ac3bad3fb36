#!/usr/bin/env python3
"""Lift 2D keypoint files (upstream npz, MMPose JSON, COCO results JSON, CSV) to 3D poses (npz, json, csv, bvh).

    python vp3d_lift.py data_2d_custom_myvideos.npz -m pretrained_h36m_detectron_coco.bin -o poses.npz
    python vp3d_lift.py clip.json --image-size 1920x1080 -m vp3d.onnx -o clip_poses.json
    python vp3d_lift.py a.csv b.json --video a.mp4 -m model.bin --layout h36m -o lifted/ --format csv
    python vp3d_lift.py clips/ --recursive --image-size 340x256 -m model.onnx -o lifted/ [--resume] [--ray [auto]]

Several inputs into a folder (-o DIR), or a folder, glob or @list as input, is a corpus run (docs/corpus.md):
one output file per input (all its videos), DIR/lift_report.jsonl with a line per input, a bad input is its
error line and the others go on; exit 1 when any input failed. Otherwise every input is read and checked
before the model loads, and the first bad one stops the run (exit 2).
"""
import sys

from vp3d import cli, corpus
from vp3d.engines.backends import BACKENDS, PRECISIONS
from vp3d.engines.devices import DEVICES
from vp3d.facts.skeleton import DEFAULT_LAYOUT, keypoint_layouts
from vp3d.io.bvh import ORIGINS, UNITS
from vp3d.io.formats import OUTPUT_FORMATS, output_suffix, write_outputs
from vp3d.io.keypoints import read_keypoints
from vp3d.io.video import image_size_from_video
from vp3d.lift import image_size_for, load_model
from vp3d.pipeline.predict import DEFAULT_CHUNK


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="keypoint files, folders of them, quoted globs or @LIST (a file of such, one a line): "
                        "data_2d_custom_*.npz (every video in it), MMPose predictions or COCO "
                        "keypoint results (.json), .csv (frame,joint,x,y[,score][,track]), or an .npz of (T, J, 2) pixel "
                        "arrays keyed by video name")
    p.add_argument("-m", "--model", required=True,
                   help="checkpoint (.bin/.pth, either layout; its trajectory model is used where it has one) "
                        "or exported model (.onnx, .xml)")
    p.add_argument("-o", "--output", "--out", dest="out", required=True,
                   help="output .npz, .json, .csv (all videos in one file) or .bvh (one video), or a folder (a path "
                        "without a suffix or ending in /: one file per video)")
    p.add_argument("--format", choices=OUTPUT_FORMATS, default=None,
                   help="file format inside an output folder (default npz)")
    p.add_argument("--layout", choices=sorted(keypoint_layouts()), default=None,
                   help=f"2D keypoint order the model was trained on (default: what the model records, else "
                        f"{DEFAULT_LAYOUT}: upstream's in-the-wild model)")
    size = p.add_mutually_exclusive_group()
    cli.add_image_size(size, "frame size in pixels, for JSON and CSV inputs (npz files carry their own)")
    size.add_argument("--video", default=None, metavar="FILE",
                      help="read the frame size from this video (needs imageio-ffmpeg)")
    p.add_argument("--causal", action="store_true",
                   help="the model is causal (sees only past frames); vp3d's checkpoints and exports record it")
    p.add_argument("--fps", type=cli.positive_float, default=50.0, help="frame rate, for BVH output's frame time")
    p.add_argument("--units", choices=UNITS, default=None, help="BVH output: m or cm (default m)")
    p.add_argument("--origin", choices=ORIGINS, default=None, help="BVH output: where the root goes (see vp3d_export.py)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto: torch for checkpoints, onnxruntime for .onnx, openvino for .xml")
    p.add_argument("--device", choices=DEVICES, default="auto", help="as vp3d_infer.py")
    p.add_argument("--precision", choices=PRECISIONS, default="f32",
                   help="bf16: OpenVINO on CPUs with bf16, or torch; fp16: torch on CUDA")
    p.add_argument("--threads", type=cli.positive_int, default=None, help="CPU threads (default: physical cores)")
    p.add_argument("--chunk", type=cli.positive_int, default=DEFAULT_CHUNK,
                   help="output frames per model call for checkpoints (bounds memory; exported models use their length)")
    c = p.add_argument_group("corpus runs (-o DIR with several inputs, a folder, glob or @list)")
    c.add_argument("--recursive", action="store_true", help="folders: their subfolders' keypoint files too")
    c.add_argument("--resume", action="store_true",
                   help="skip the inputs DIR/lift_report.jsonl says were lifted and whose outputs exist")
    c.add_argument("--ray", nargs="?", const=corpus.LOCAL, default=None, metavar="ADDRESS",
                   help="run on Ray Data (pip install 'vp3d[ray]'): auto (the running cluster), HOST:PORT, "
                        "ray://HOST:PORT; without ADDRESS a local one")
    c.add_argument("--workers", type=cli.positive_int, default=None,
                   help="--ray: actors, each holding one model (default: the cluster's CPUs / --threads-per-worker)")
    c.add_argument("--threads-per-worker", type=cli.positive_int, default=None,
                   help="--ray: CPUs each actor reserves and its model's threads (default 1)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(corpus.ray_argv(sys.argv[1:] if argv is None else argv))
    try:
        suffix = output_suffix(args.out)              # an unknown suffix fails before any work
    except cli.Vp3dError as e:
        return cli.fail(e)
    if args.format and suffix and suffix != "." + args.format:
        parser.error(f"--format {args.format} contradicts the output suffix {suffix}")
    written = suffix or "." + (args.format or "npz")
    if written != ".bvh" and (args.units or args.origin):
        parser.error(f"--units and --origin are for BVH output, not {written}")
    if args.backend == "ais_bench":
        parser.error("--backend ais_bench runs whole input directories on an NPU; lift with onnxruntime, openvino or torch")
    if (args.workers or args.threads_per_worker) and not args.ray:
        parser.error("--workers and --threads-per-worker size a --ray run's actors; without --ray give --threads")
    try:
        inputs = corpus.expand_inputs(args.inputs, args.recursive, exclude=None if suffix else args.out)
    except cli.Vp3dError as e:
        return cli.fail(e)
    if suffix is None and (corpus.is_many(args.inputs, inputs) or args.resume or args.ray):
        return cli.run(lambda a: lift_corpus(a, inputs), args)
    if args.resume or args.ray:
        parser.error("--resume and --ray write one file per input into a folder: give -o DIR")
    args.inputs = [i.path for i in inputs]

    def body(a):
        image_size = tuple(a.image_size) if a.image_size else (image_size_from_video(a.video) if a.video else None)
        sequences, origin = [], {}
        for path in a.inputs:
            for seq in read_keypoints(path):
                if seq.name in origin:
                    raise cli.Vp3dError(f"{path}: video name {seq.name!r} is also in {origin[seq.name]}; "
                                        f"rename one of the files")
                origin[seq.name] = path
                image_size_for(seq, image_size)          # before the model loads: every input has a size
                sequences.append(seq)
        if suffix == ".bvh" and len(sequences) > 1:                 # before any work: one motion per file
            raise cli.Vp3dError(f"{a.out}: a BVH file holds one motion, but the inputs hold {len(sequences)} videos "
                                f"({', '.join(s.name for s in sequences[:5])}); write to a folder (-o DIR --format bvh)")
        model = load_model(a.model, a.layout, a.backend, a.device, a.precision, a.threads,
                           True if a.causal else None, a.chunk)
        sizes = [model.check(seq, image_size) for seq in sequences]        # every input checked before lifting
        print(f"[INFO] {model.description}")
        poses = {}
        for seq, (w, h) in zip(sequences, sizes):
            filled = f", {seq.filled} without a detection filled by interpolation" if seq.filled else ""
            start = f" from frame {seq.first_frame}" if seq.first_frame else ""
            print(f"[INFO] {seq.name}: {seq.frames} frames{start} ({w}x{h}){filled}")
            poses[seq.name] = model.lift_sequence(seq, (w, h), progress=None)
        for path in write_outputs(a.out, poses, a.format, a.fps, units=a.units, origin=a.origin):
            print(f"wrote {path}")
    return cli.run(body, args)


def lift_corpus(a, inputs) -> int:
    """A corpus run (vp3d.corpus): one output per input, the report, exit 1 when any input failed."""
    jobs = corpus.plan_jobs(inputs, a.out, a.format or "npz")
    spec = corpus.ModelSpec(a.model, a.layout, a.backend, a.device, a.precision, a.threads,
                            True if a.causal else None, a.chunk)
    options = corpus.LiftOptions(tuple(a.image_size) if a.image_size else
                                 (image_size_from_video(a.video) if a.video else None), a.fps, a.units, a.origin)
    summary = corpus.lift_corpus(jobs, a.out, spec, options, a.resume, a.ray, a.workers, a.threads_per_worker or 1,
                                 on_row=corpus.print_row)
    print(corpus.describe(summary))
    if summary.failed:
        print(f"error: {len(summary.failed)} of {len(summary.rows)} inputs failed; their lines in "
              f"{summary.report} say why", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
