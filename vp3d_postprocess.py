#!/usr/bin/env python3
"""Stage 4: per-action MPJPE, P-MPJPE, N-MPJPE and MPJVE of inference results against ground truth.

    python vp3d_postprocess.py --preprocess-data vp3d/prep_dataset --infer-results vp3d/infer_results/2022_09_25-07_41_01/
"""
import sys

from tqdm import tqdm

from vp3d import cli
from vp3d.evaluation import evaluate
from vp3d.fileio import write_json
from vp3d.plots import plot_format, plot_results


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--preprocess-data", required=True, help="output directory of vp3d_preprocess.py")
    p.add_argument("--infer-results", required=True, help="directory of NNN_Action_0.bin predictions (ais_bench or vp3d_infer.py)")
    p.add_argument("--json", default=None, help="also write the results here as JSON (millimetres)")
    p.add_argument("--plot", default=None, help="also draw per-action MPJPE and P-MPJPE into this figure; "
                   "its suffix names the format: .png, .svg or .pdf")
    return p


def format_table(results) -> str:
    lines = [f"{'Action':<14}{'frames':>8}{'MPJPE':>10}{'P-MPJPE':>10}{'N-MPJPE':>10}{'MPJVE':>10}   (mm)"]
    for name, r in results.actions.items():
        lines.append(f"{name:<14}{r['frames']:>8}{r['mpjpe']:>10.2f}{r['p_mpjpe']:>10.2f}"
                     f"{r['n_mpjpe']:>10.2f}{r['mpjve']:>10.2f}")
    a = results.average
    lines += ["", "==== Validation Results ====",
              f"Protocol #1 (MPJPE) action-wise average: {a['mpjpe']:.1f} mm",
              f"Protocol #2 (P-MPJPE) action-wise average: {a['p_mpjpe']:.1f} mm",
              f"Protocol #3 (N-MPJPE) action-wise average: {a['n_mpjpe']:.1f} mm",
              f"Velocity (MPJVE) action-wise average: {a['mpjve']:.2f} mm"]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body(a):
        if a.plot:
            plot_format(a.plot)                  # an unknown figure format fails before any work
        results = evaluate(a.preprocess_data, a.infer_results, progress=lambda it: tqdm(it, desc="evaluate", unit="file", disable=None))
        print(format_table(results))
        if a.json:
            write_json(a.json, results.to_json())
        if a.plot:
            plot_results(results, a.plot)
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
