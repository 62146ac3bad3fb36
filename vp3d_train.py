#!/usr/bin/env python3
"""Train the temporal model on Human3.6M-format data (upstream run.py's supervised recipe).

    python vp3d_train.py -d vp3d/Human3.6M/ -k cpn_ft_h36m_dbb -arc 3,3,3,3,3 -e 80 -o checkpoint/model.bin
    python vp3d_train.py -d synth/ -arc 3,3,3 --channels 128 -b 256 -drop 0.1 -e 4 -o small.bin
    python vp3d_train.py -d vp3d/Human3.6M/ -o model.bin --weight-layout conv2d --module-prefix   # Ascend form

-o gets the last epoch; with validation on (the default), the epoch with the lowest validation
MPJPE is also kept, in --best (default: -o's name with _best before the suffix, model_best.bin
for model.bin).
"""
import argparse
import math
import os
import sys
import warnings
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning. Costs ~10 % on an idle machine, but with another
# busy process on a 2-core machine, spinning threads made training steps up to 40x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from vp3d import cli  # noqa: E402  (first: a missing dependency is one line, vp3d.errors.check_core)
from tqdm import tqdm  # noqa: E402
from vp3d.engines.devices import physical_cores, resolve_torch_device  # noqa: E402
from vp3d.facts.architecture import H36M_FPS, WEIGHT_LAYOUTS  # noqa: E402
from vp3d.io.datasets import DEFAULT_KEYPOINTS  # noqa: E402

# torch (the [torch] extra), after the OpenMP setting, which is read when torch loads
torch = cli.import_or_exit("vp3d_train.py", lambda: __import__("torch"))
from vp3d.training.train import TrainConfig, load_training_data, train  # noqa: E402


def best_path(output: str | Path) -> Path:
    """The default --best: OUTPUT with '_best' before its suffix (model.bin -> model_best.bin)."""
    output = Path(output)
    return output.with_name(f"{output.stem}_best{output.suffix}")


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("-d", "--dataset", required=True, help="directory holding data_3d_h36m.npz and data_2d_h36m_<keypoints>.npz")
    p.add_argument("-k", "--keypoints", default=DEFAULT_KEYPOINTS, help="2D detections name")
    p.add_argument("-o", "--output", required=True,
                   help="checkpoint of the last epoch (upstream format; rewritten after every epoch)")
    p.add_argument("--best", default=argparse.SUPPRESS,
                   help="checkpoint of the epoch with the lowest validation MPJPE, rewritten whenever an epoch "
                        "improves on it (default: OUTPUT's stem + '_best' + its suffix; none with --no-eval)")
    p.add_argument("--subjects-train", type=cli.subjects, default="S1,S5,S6,S7,S8", help="training subjects")
    p.add_argument("--subjects-test", type=cli.subjects, default="S9,S11", help="validation subjects")
    p.add_argument("-arc", "--architecture", type=cli.widths, default="3,3,3", help="filter widths of the model")
    p.add_argument("-ch", "--channels", type=cli.positive_int, default=1024, help="hidden layer width")
    p.add_argument("--causal", action="store_true", help="causal model (sees only past frames)")
    p.add_argument("-drop", "--dropout", type=float, default=0.25, help="dropout probability")
    p.add_argument("-e", "--epochs", type=cli.positive_int, default=60, help="training epochs")
    p.add_argument("-b", "--batch-size", type=cli.positive_int, default=1024, help="output frames per batch")
    p.add_argument("--chunk", "-s", "--stride", dest="chunk", type=cli.positive_int, default=1,
                   help="output frames per training chunk (1: upstream's optimised single-frame training)")
    p.add_argument("-lr", "--learning-rate", type=cli.positive_float, default=0.001, help="initial learning rate")
    p.add_argument("-lrd", "--lr-decay", type=cli.positive_float, default=0.95, help="learning rate factor per epoch")
    p.add_argument("-no-da", "--no-data-augmentation", dest="no_augment", action="store_true",
                   help="train without the mirrored copy of every chunk")
    p.add_argument("--no-eval", action="store_true", help="skip the per-epoch validation on the test subjects")
    p.add_argument("--downsample", type=cli.positive_int, default=1, help="keep every n-th frame")
    p.add_argument("--fps", type=cli.positive_float, default=H36M_FPS,
                   help="frame rate of the dataset (Human3.6M and vp3d_synthesize.py's data: 50); the model records "
                        "FPS / --downsample, and vp3d_lift.py resamples other rates to it")
    p.add_argument("--seed", type=int, default=1234, help="random seed (shuffling, initialisation, dropout)")
    p.add_argument("--max-minutes", type=cli.positive_float, default=None,
                   help="training time budget: stop after the epoch that crosses it (its checkpoint is written)")
    p.add_argument("--weight-layout", choices=WEIGHT_LAYOUTS, default="conv1d", help="weight layout of the saved checkpoint")
    p.add_argument("--module-prefix", action="store_true", help="prefix keys with 'module.' (DataParallel, as the Ascend recipe)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to train")
    p.add_argument("--threads", type=cli.positive_int, default=None, help="CPU threads (default: physical cores)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.module_prefix and args.weight_layout == "conv1d":
        warnings.warn("--module-prefix with --weight-layout conv1d: the Ascend recipe's files are --weight-layout conv2d")
    if Path(args.output).is_dir():
        parser.error(f"--output {args.output} is a directory; name the checkpoint file")
    args.best = getattr(args, "best", None)          # SUPPRESS: no "(default: None)" in --help
    if args.no_eval and args.best:
        parser.error("--best needs validation: the best epoch is the one with the lowest validation MPJPE")
    best = None if args.no_eval else Path(args.best) if args.best else best_path(args.output)
    if best is not None and best.is_dir():
        parser.error(f"--best {best} is a directory; name the checkpoint file")
    if best is not None and best.resolve() == Path(args.output).resolve():
        parser.error(f"--best and --output are the same file ({best}): the last epoch would overwrite the best")
    try:
        config = TrainConfig(filter_widths=args.architecture, channels=args.channels, causal=args.causal,
                             dropout=args.dropout, epochs=args.epochs, batch_size=args.batch_size,
                             chunk=args.chunk, learning_rate=args.learning_rate, lr_decay=args.lr_decay,
                             augment=not args.no_augment, validate=not args.no_eval, seed=args.seed,
                             max_minutes=args.max_minutes, fps=args.fps / args.downsample)
    except ValueError as e:
        parser.error(str(e))

    def body(a):
        device = resolve_torch_device(a.device)
        if device == "cpu":
            torch.set_num_threads(a.threads or physical_cores())
        data = load_training_data(a.dataset, a.keypoints, a.subjects_train, a.subjects_test, a.downsample)
        frames = sum(s.poses_2d.shape[0] for s in data.train)
        rf = config.model_config().receptive_field
        print(f"training a {rf}-frame model ({config.channels} channels) on {len(data.train)} sequences "
              f"({frames} frames), validating on {len(data.test)}; device {device}")
        _, history = train(config, data, device, a.output, a.weight_layout, a.module_prefix,
                           progress=lambda it, total, desc: tqdm(it, total=total, desc=desc, unit="batch", leave=False,
                                                                 disable=None),  # no bar in logs
                           log=lambda record: tqdm.write(record.line()), best=best)
        last = history[-1]
        stopped = f" (time budget reached after {last.epoch} of {config.epochs} epochs)" if last.epoch < config.epochs else ""
        print(f"wrote {a.output}: last epoch, {last.epoch}{stopped}")
        validated = [h for h in history if h.val_mpjpe_mm is not None and math.isfinite(h.val_mpjpe_mm)]
        if best is not None and validated:
            top = min(validated, key=lambda h: h.val_mpjpe_mm)      # min keeps the first of equals, as train()
            print(f"wrote {best}: best epoch, {top.epoch} (validation MPJPE {top.val_mpjpe_mm:.2f} mm)")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
