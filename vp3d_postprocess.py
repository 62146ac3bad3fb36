#!/usr/bin/env python3
"""Stage 4: per-action MPJPE, P-MPJPE, N-MPJPE and MPJVE of inference results against ground truth.

    python vp3d_postprocess.py --preprocess-data vp3d_work/prep_dataset --infer-results vp3d_work/infer_results/run1/
    python vp3d_postprocess.py ... --json int8.json --plot int8.png --compare fp32.json --save-predictions int8.npz
    python vp3d_postprocess.py --preprocess-data prep_he --infer-results res_he/run1 --by-subject -a Walk,Jog,Box
"""
import sys

from vp3d import cli  # first: a missing dependency is one line (vp3d.errors.check_core)
from vp3d.pipeline.evaluation import Results, evaluate, report
from vp3d.io.files import refuse_overwrite, write_json
from vp3d.viz.plots import plot_format, plot_results
from vp3d.io.poses import Poses, write_poses_npz
from vp3d.pipeline.sequences import Manifest
from tqdm import tqdm


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--preprocess-data", required=True, help="output directory of vp3d_preprocess.py")
    p.add_argument("--infer-results", required=True, help="directory of NNN_Action_0.bin predictions (ais_bench or vp3d_infer.py)")
    p.add_argument("--by-subject", action="store_true",
                   help="each test subject's errors too, as upstream's --by-subject (HumanEva-I's table)")
    p.add_argument("-a", "--actions", type=cli.actions, default=None, metavar="PREFIXES",
                   help="score only the actions starting with one of these, as upstream's -a (e.g. Walk,Jog,Box); "
                        "default: every action prepared")
    p.add_argument("--json", default=None, help="also write the results here as JSON (millimetres)")
    p.add_argument("--plot", default=None, help="also draw the per-action errors of the four protocols into this figure; "
                   "its suffix names the format: .png, .svg or .pdf")
    p.add_argument("--compare", default=None, help="with --plot: a results JSON of another run (--json) to draw beside, "
                   "e.g. fp32 vs int8")
    p.add_argument("--save-predictions", default=None, metavar="FILE.npz",
                   help="also save the evaluated poses: one float32 (T, J, 3) array per input (J: the dataset's joints), keyed by its name "
                        "(001_Directions), metres, camera frame, root-relative; vp3d_render.py and vp3d_export.py read it")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.compare and not args.plot:
        parser.error("--compare draws beside this run: it needs --plot")
    if args.save_predictions and not args.save_predictions.endswith(".npz"):
        parser.error(f"--save-predictions {args.save_predictions}: name an .npz file")

    def body(a):
        refuse_overwrite([("--json", a.json), ("--plot", a.plot), ("--save-predictions", a.save_predictions)],
                         [("--compare", a.compare)])
        if a.plot:
            plot_format(a.plot)                  # an unknown figure format fails before any work
        other = Results.read(a.compare) if a.compare else None
        predictions = {} if a.save_predictions else None
        results = evaluate(a.preprocess_data, a.infer_results, progress=lambda it: tqdm(it, desc="evaluate", unit="file", disable=None),
                           predictions=predictions, actions=a.actions, by_subject=a.by_subject)
        print(report(results))
        if a.json:
            write_json(a.json, results.to_json())
        if a.plot:
            plot_results(results, a.plot, other)
        if a.save_predictions:
            fps = Manifest.read(a.preprocess_data).fps
            write_poses_npz(a.save_predictions, Poses(predictions, fps=fps))
            print(f"saved {len(predictions)} evaluated pose sequences to {a.save_predictions}")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
