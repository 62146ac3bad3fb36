"""Stage 1: a dataset's test set (upstream's .npz files: Human3.6M, HumanEva-I) -> model inputs (fixed, own or
bucketed lengths), ground truths, deltas, manifest."""
from __future__ import annotations

import shutil
from pathlib import Path


from vp3d.errors import Vp3dError
from vp3d.facts.architecture import ModelConfig
from vp3d.io.datasets import load_dataset
from vp3d.io.files import write_array, write_json
from vp3d.pipeline.sequences import (DELTA_FILE, GROUND_TRUTHS_DIR, INPUTS_DIR, MANIFEST, Entry, Manifest,
                        best_buckets, default_length, file_stem, flip_augment, input_length, pad_to_length)


def _temporary(name: str) -> bool:
    """A temporary of files.atomic_path (.NAME.XXXX.tmp) that a killed run left behind."""
    return name.startswith(".") and name.endswith(".tmp")


def check_output_dir(out: Path, force: bool) -> None:
    """Refuse to write into a non-empty output directory unless `force`.

    A directory holding only the files of an interrupted run of ours (no manifest yet) is taken
    up again without `force`: re-running completes it.
    """
    if out.exists() and not out.is_dir():
        raise Vp3dError(f"{out}: exists and is not a directory")
    if not out.is_dir():
        return
    present = {p.name for p in out.iterdir() if not _temporary(p.name)}
    interrupted = MANIFEST not in present and present <= {INPUTS_DIR, GROUND_TRUTHS_DIR, DELTA_FILE}
    if present and not (force or interrupted):
        raise Vp3dError(f"{out}: output directory is not empty (use --force to replace its contents)")


def preprocess(dataset_dir: str | Path, save_dir: str | Path, subjects: list[str] | None = None,
               keypoints: str | None = None, filter_widths: tuple[int, ...] = ModelConfig().filter_widths,
               lengths: list[int] | None = None, downsample: int = 1, causal: bool = False,
               force: bool = False, progress=None, buckets: int | None = None, dataset: str | None = None,
               actions: list[str] | None = None) -> Manifest:
    """Write inputs/NNN_Group.bin (float32, 2 x L x J_in x 2), ground_truths/NNN_Group.bin (float32,
    T x J x 3, metres, camera frame, root carrying the trajectory), delta_dict_padding.json and
    manifest.json under `save_dir`. `dataset`: 'h36m' or 'humaneva15' (None: the one whose files
    `dataset_dir` holds); `subjects` (None: the dataset's test subjects) and `keypoints` (None: its
    default detections) as upstream's -ste and -k; `actions`: upstream's -a, prefixes of the actions
    kept (None: all). `lengths`: [L] one fixed length (None: the dataset's default_length), several:
    buckets (each sequence gets the smallest that fits), []: each sequence at its own length (see
    sequences.py). `buckets`: that many bucket lengths chosen from the data to compute the fewest
    frames (best_buckets), instead of `lengths`. Nothing is written if any sequence does not fit."""
    config = ModelConfig(filter_widths=tuple(filter_widths), causal=causal)
    out = Path(save_dir)
    check_output_dir(out, force)          # before the (slow) loading: fail fast
    data = load_dataset(dataset_dir, keypoints, dataset)
    facts = data.facts
    subjects = list(subjects or facts.subjects_test)
    lengths = sorted(set([default_length(facts.name)] if lengths is None else lengths))
    sequences = data.sequences(subjects, downsample, actions)
    if not sequences:
        raise Vp3dError(f"{data.path_3d}: no test sequences for subjects {','.join(subjects)}")

    if buckets:
        lengths = best_buckets([s.poses_2d.shape[0] + config.receptive_field - 1 for s in sequences], buckets)
    longest = max(sequences, key=lambda s: s.poses_2d.shape[0])
    needed = longest.poses_2d.shape[0] + config.receptive_field - 1
    if lengths and needed > lengths[-1]:
        raise Vp3dError(f"{longest.subject} '{longest.action}' camera {longest.camera} has "
                        f"{longest.poses_2d.shape[0]} frames: --max-length must be at least {needed} "
                        f"for a receptive field of {config.receptive_field} (or 0: every sequence at its own length)")

    for sub in (MANIFEST, DELTA_FILE):       # all checks passed: replace the old run's files
        (out / sub).unlink(missing_ok=True)
        for tmp in out.glob(f".{sub}.*.tmp"):  # and what a killed run left of them (files.atomic_path)
            tmp.unlink(missing_ok=True)
    for sub in (INPUTS_DIR, GROUND_TRUTHS_DIR):
        shutil.rmtree(out / sub, ignore_errors=True)
    entries, deltas = [], {}
    iterator = progress(sequences) if progress else sequences
    for i, seq in enumerate(iterator):
        name = file_stem(i, seq.group)
        length = input_length(seq.poses_2d.shape[0], config.receptive_field, lengths)
        padded, delta = pad_to_length(seq.poses_2d, config.pad, config.causal_shift, length)
        write_array(out / INPUTS_DIR / f"{name}.bin", flip_augment(padded, data.keypoint_symmetry))
        write_array(out / GROUND_TRUTHS_DIR / f"{name}.bin", seq.poses_3d)
        deltas[name] = delta
        entries.append(Entry(name, seq.subject, seq.action, seq.group, seq.camera, seq.poses_3d.shape[0], length))
    manifest = Manifest(lengths=lengths, receptive_field=config.receptive_field, causal=causal,
                        num_keypoints=data.num_keypoints, keypoint_symmetry=data.keypoint_symmetry,
                        joint_symmetry=facts.skeleton.symmetry, keypoints=data.keypoints, subjects=subjects,
                        downsample=downsample, entries=entries, dataset=facts.name, num_joints=facts.num_joints,
                        actions=None if actions is None else list(actions))
    write_json(out / DELTA_FILE, deltas)
    write_json(out / MANIFEST, manifest.to_json())
    return manifest
