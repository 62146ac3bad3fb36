#!/usr/bin/env python3
"""Train the temporal model as upstream VideoPose3D's run.py does: its flags, its meaning, its numbers.

    python vp3d_train.py -d vp3d_work/Human3.6M/ -k cpn_ft_h36m_dbb -arc 3,3,3,3,3 -e 80 -o checkpoint/model.bin
    python vp3d_train.py -d h36m -k cpn_ft_h36m_dbb -arc 3,3,3,3,3 -c checkpoint          # upstream's own command
    python vp3d_train.py -d DIR -str S1 -sun S5,S6,S7,S8 -arc 3,3,3 --warmup 5 -o semi.bin   # semi-supervised
    python vp3d_train.py -d DIR -o model.bin --resume model.bin -e 80                     # continue a run
    python vp3d_train.py -d humaneva15 -k detectron_pt_coco -str Train/S1,Train/S2,Train/S3 \
        -ste Validate/S1,Validate/S2,Validate/S3 -b 128 -e 1000 -lrd 0.996 -a Walk,Jog,Box --by-subject   # HumanEva-I
    torchrun --nproc-per-node 4 vp3d_train.py -d DIR -o model.bin ...                     # 4 GPUs (docs/training.md)

-o gets the last epoch; with the per-epoch evaluation on (the default), the epoch with the lowest 3d_valid
is also kept, in --best (default: -o's name with _best before the suffix). -c DIR gets upstream's
epoch_N.bin every --checkpoint-frequency epochs (without -o: in checkpoint/, as upstream).
"""
import argparse
import os
import sys
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning. Costs ~10 % on an idle machine, but with another
# busy process on a 2-core machine, spinning threads made training steps up to 40x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from vp3d import cli  # noqa: E402  (first: a missing dependency is one line, vp3d.errors.check_core)
from tqdm import tqdm  # noqa: E402
from vp3d.engines.devices import physical_cores, resolve_torch_device  # noqa: E402
from vp3d.facts.architecture import WEIGHT_LAYOUTS  # noqa: E402
from vp3d.pipeline.evaluation import report  # noqa: E402

# torch (the [torch] extra), after the OpenMP setting, which is read when torch loads
torch = cli.import_or_exit("vp3d_train.py", lambda: __import__("torch"))
from vp3d.training import distributed  # noqa: E402
from vp3d.io.datasets import resolve_dataset  # noqa: E402
from vp3d.training.data import load_training_data  # noqa: E402
from vp3d.training.train import Outputs, TrainConfig, read_start, train  # noqa: E402

UPSTREAM_CHECKPOINT_DIR = "checkpoint"     # run.py's -c default


def best_path(output: str | Path) -> Path:
    """The default --best: OUTPUT with '_best' before its suffix (model.bin -> model_best.bin)."""
    output = Path(output)
    return output.with_name(f"{output.stem}_best{output.suffix}")


def fraction(text: str) -> float:
    return cli._number(text, float, lambda v: 0 < v <= 1, "a fraction in (0, 1]")


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    g = p.add_argument_group("data (upstream's flags)")
    g.add_argument("-d", dest="data", default=None, metavar="DIR|NAME",
                   help="folder holding data_3d_<name>.npz and data_2d_<name>_<keypoints>.npz, or upstream's dataset "
                        "name (h36m: those files in data/)")
    g.add_argument("--dataset", default=None, metavar="NAME",
                   help="which dataset the -d folder holds (default: the one whose data_3d file is there, else h36m)")
    g.add_argument("-k", "--keypoints", default=None, help="2D detections' name (default: the dataset's, "
                                                           "cpn_ft_h36m_dbb for h36m)")
    g.add_argument("-str", "--subjects-train", type=cli.subjects, default=None, metavar="LIST",
                   help="training subjects (default: the dataset's, S1,S5,S6,S7,S8 for h36m)")
    g.add_argument("-ste", "--subjects-test", type=cli.subjects, default=None, metavar="LIST",
                   help="test subjects (default: the dataset's, S9,S11 for h36m)")
    g.add_argument("-sun", "--subjects-unlabeled", type=cli.subjects, default=[], metavar="LIST",
                   help="unlabeled subjects: semi-supervised training on their 2D through the cameras")
    g.add_argument("-a", "--actions", default="*", metavar="LIST",
                   help="actions to train and test on (names starting so), or * for all")
    g.add_argument("--by-subject", action="store_true",
                   help="the final evaluation's tables per test subject too, as upstream's (HumanEva-I's table)")
    g.add_argument("--subset", type=fraction, default=1.0, help="keep this fraction of each training sequence")
    g.add_argument("--downsample", type=cli.positive_int, default=1, help="keep every n-th frame")
    m = p.add_argument_group("model and training (upstream's flags)")
    m.add_argument("-arc", "--architecture", type=cli.widths, default="3,3,3", help="filter widths of the model")
    m.add_argument("-ch", "--channels", type=cli.positive_int, default=1024, help="hidden layer width")
    m.add_argument("--causal", action="store_true", help="causal model (sees only past frames)")
    m.add_argument("-drop", "--dropout", type=float, default=0.25, help="dropout probability")
    m.add_argument("-e", "--epochs", type=cli.positive_int, default=60, help="training epochs")
    m.add_argument("-b", "--batch-size", type=cli.positive_int, default=1024, help="output frames per batch")
    m.add_argument("-s", "--stride", "--chunk", dest="chunk", type=cli.positive_int, default=1,
                   help="output frames per training example (1: upstream's optimised single-frame training)")
    m.add_argument("-lr", "--learning-rate", type=cli.positive_float, default=0.001, help="initial learning rate")
    m.add_argument("-lrd", "--lr-decay", type=cli.positive_float, default=0.95, help="learning rate factor per epoch")
    m.add_argument("-no-da", "--no-data-augmentation", dest="no_augment", action="store_true",
                   help="train without the mirrored copy of every example")
    m.add_argument("--no-eval", action="store_true", help="skip the per-epoch errors (3d_eval, 3d_valid, ...)")
    m.add_argument("--disable-optimizations", action="store_true",
                   help="train the model as it runs (every frame of each layer) even where each example predicts one "
                        "frame")
    m.add_argument("--dense", action="store_true",
                   help="dense convolutions instead of dilated ones (the paper's ablation): each block's kernel spans "
                        "every frame the dilated one reaches (widths 3,3,3: kernels 3,7,19); the checkpoint records it")
    m.add_argument("--warmup", type=cli.non_negative_int, default=1,
                   help="semi-supervised: epochs on labeled data only first")
    m.add_argument("--linear-projection", action="store_true",
                   help="semi-supervised: project through focal length and centre only")
    m.add_argument("--no-bone-length", action="store_true", help="semi-supervised: no bone-length term")
    m.add_argument("--no-proj", action="store_true", help="semi-supervised: no 2D reprojection loss")
    c = p.add_argument_group("checkpoints")
    c.add_argument("-o", "--output", default=None,
                   help="checkpoint of the last epoch (upstream's format; rewritten after every epoch)")
    c.add_argument("--best", default=argparse.SUPPRESS,
                   help="checkpoint of the epoch with the lowest 3d_valid, rewritten whenever an epoch improves on "
                        "it (default: OUTPUT's stem + '_best' + its suffix; none with --no-eval or without -o)")
    c.add_argument("-c", "--checkpoint", default=None, metavar="DIR",
                   help=f"upstream's checkpoint folder: epoch_N.bin every --checkpoint-frequency epochs "
                        f"(default without -o: {UPSTREAM_CHECKPOINT_DIR}/); --resume names are looked up in it first")
    c.add_argument("--checkpoint-frequency", type=cli.positive_int, default=10, metavar="N",
                   help="epochs between -c's checkpoints")
    c.add_argument("-r", "--resume", default=None, metavar="FILE",
                   help="continue from an upstream or vp3d checkpoint (its epoch, lr, optimizer and generators)")
    c.add_argument("--export-training-curves", action="store_true",
                   help="loss_3d.png (semi-supervised also loss_traj.png, loss_2d.png) in -c's folder (else -o's)")
    c.add_argument("--weight-layout", choices=WEIGHT_LAYOUTS, default="conv1d", help="weight layout of the saved checkpoints")
    c.add_argument("--module-prefix", action="store_true", help="prefix keys with 'module.' (DataParallel, as the Ascend recipe)")
    v = p.add_argument_group("vp3d")
    v.add_argument("--fps", type=cli.positive_float, default=None,
                   help="frame rate of the dataset (default: the dataset's, 50 for h36m); the model records "
                        "FPS / --downsample, and vp3d_lift.py resamples other rates to it")
    v.add_argument("--seed", type=int, default=1234, help="torch's initialisation of a fresh model, and the dropout "
                                                          "masks (the batch orders are upstream's, seeded 1234 and 4321)")
    v.add_argument("--max-minutes", type=cli.positive_float, default=None,
                   help="training time budget: stop after the epoch that crosses it (its checkpoint is written)")
    v.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to train")
    v.add_argument("--threads", type=cli.positive_int, default=None,
                   help="CPU threads (default: physical cores, shared among torchrun's processes on a machine)")
    return p


def resume_path(resume: str, folder: str | None) -> Path:
    """--resume FILE as run.py reads it (inside the -c folder) or as a path; the folder's first."""
    candidates = ([Path(folder or UPSTREAM_CHECKPOINT_DIR) / resume] if not Path(resume).is_absolute() else []) \
        + [Path(resume)]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise cli.Vp3dError(f"{resume}: no such checkpoint (looked for {' and '.join(map(str, candidates))})")
    return found


def check_args(parser, args) -> Outputs:
    """Refuse what cannot work before any work; the checkpoints to write."""
    if args.export_training_curves and args.no_eval:
        parser.error("--export-training-curves needs the per-epoch errors: drop --no-eval")
    for name in ("output", "checkpoint"):
        value = getattr(args, name)
        if value is not None and Path(value).exists() and (Path(value).is_dir() != (name == "checkpoint")):
            parser.error(f"--{name} {value} is {'a file' if name == 'checkpoint' else 'a directory'}; name "
                         f"{'a folder' if name == 'checkpoint' else 'the checkpoint file'}")
    args.best = getattr(args, "best", None)          # SUPPRESS: no "(default: None)" in --help
    if args.no_eval and args.best:
        parser.error("--best needs the per-epoch evaluation: the best epoch is the one with the lowest 3d_valid")
    best = None if args.no_eval else Path(args.best) if args.best else best_path(args.output) if args.output else None
    if best is not None and best.is_dir():
        parser.error(f"--best {best} is a directory; name the checkpoint file")
    if best is not None and args.output and best.resolve() == Path(args.output).resolve():
        parser.error(f"--best and --output are the same file ({best}): the last epoch would overwrite the best")
    folder = args.checkpoint or (None if args.output else UPSTREAM_CHECKPOINT_DIR)
    curves = (folder or Path(args.output).parent) if args.export_training_curves else None
    return Outputs(last=Path(args.output) if args.output else None, best=best,
                   folder=Path(folder) if folder else None, frequency=args.checkpoint_frequency,
                   weight_layout=args.weight_layout, module_prefix=args.module_prefix,
                   curves=Path(curves) if curves else None)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    outputs = check_args(parser, args)

    def body(a):
        folder, facts = resolve_dataset(a.data, a.dataset)
        fps = (a.fps or facts.fps) / a.downsample
        try:
            config = TrainConfig(filter_widths=a.architecture, channels=a.channels, causal=a.causal, dense=a.dense,
                                 dropout=a.dropout, epochs=a.epochs, batch_size=a.batch_size, chunk=a.chunk,
                                 learning_rate=a.learning_rate, lr_decay=a.lr_decay, augment=not a.no_augment,
                                 validate=not a.no_eval, optimized=not a.disable_optimizations, warmup=a.warmup,
                                 projection=not a.no_proj, linear_projection=a.linear_projection,
                                 bone_length=not a.no_bone_length, seed=a.seed, max_minutes=a.max_minutes, fps=fps)
        except ValueError as e:
            parser.error(str(e))
        device = resolve_torch_device(a.device)
        processes = distributed.from_environment(device)
        device = distributed.local_device(device)
        if device == "cpu":
            per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            torch.set_num_threads(a.threads or max(1, physical_cores() // per_machine))
        start = read_start(resume_path(a.resume, a.checkpoint)) if a.resume else None
        actions = None if a.actions == "*" else [x for x in a.actions.split(",") if x]
        data = load_training_data(folder, facts, a.keypoints, a.subjects_train, a.subjects_test,
                                  a.subjects_unlabeled, actions, a.subset, a.downsample)
        say = (lambda line: tqdm.write(line)) if processes.main else (lambda line: None)
        frames = sum(s.poses_2d.shape[0] for s in data.train)
        rf = config.model_config().receptive_field
        semi = f", {len(data.unlabeled)} unlabeled (semi-supervised)" if data.unlabeled else ""
        say(f"training a {rf}-frame {'dense ' if config.dense else ''}model ({config.channels} channels) on "
            f"{len(data.train)} sequences ({frames} frames){semi}, testing on {len(data.test)}; device {device}"
            + (f", {processes.world} processes" if processes.parallel else ""))
        result = train(config, data, device, outputs, start, log=say, processes=processes,
                       progress=lambda it, total, desc: tqdm(it, total=total, desc=desc, unit="batch", leave=False,
                                                             disable=None if processes.main else True))
        if not processes.main:
            return 0
        if result.final is not None:
            if a.by_subject:                  # each subject's tables, as upstream's; then the averages over all
                print(report(result.final, overall=False))
            avg = result.final.average
            for label, key, digits in (("Protocol #1   (MPJPE)", "mpjpe", 1), ("Protocol #2 (P-MPJPE)", "p_mpjpe", 1),
                                       ("Protocol #3 (N-MPJPE)", "n_mpjpe", 1), ("Velocity      (MPJVE)", "mpjve", 2)):
                print(f"{label} action-wise average: {round(avg[key], digits)} mm")
        last = result.history[-1] if result.history else None
        if last is not None and last.epoch < config.epochs:
            print(f"time budget reached after {last.epoch} of {config.epochs} epochs")
        if outputs.last is not None and last is not None:
            print(f"wrote {outputs.last}: last epoch, {last.epoch}")
        validated = [h for h in result.history if h.val_mpjpe_mm is not None]
        if outputs.best is not None and validated:
            top = min(validated, key=lambda h: h.val_mpjpe_mm)      # the first of equals, as train()
            print(f"wrote {outputs.best}: best epoch, {top.epoch} (3d_valid {top.val_mpjpe_mm:.2f} mm)")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
