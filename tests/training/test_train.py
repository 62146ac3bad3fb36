import copy
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from h36m_data import KEYPOINTS_SYMMETRY, make_positions, write_dataset
from one_line_errors import one_line_error
from random_models import random_model

import vp3d_train  # noqa: E402
from vp3d.facts.datasets import dataset
from vp3d.facts.skeleton import Symmetry
from vp3d.io.files import read_array, write_array
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel
from vp3d.training.batches import ChunkedBatches
from vp3d.training.data import TrainingData, load_training_data
from vp3d.training.losses import mpjpe
from vp3d.training.train import Outputs, TrainConfig, bn_momentum, evaluate, learning_rate, train

SYMMETRY = (Symmetry(*KEYPOINTS_SYMMETRY), Symmetry([4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]))
ACTIONS = {"S1": ["Directions", "Walking"], "S5": ["Directions 1", "Walking 1"],
           "S9": ["Directions", "Walking"], "S11": ["Walking 1"]}


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: one thread is as fast, and immune to a busy machine (two spinning
    OpenMP threads sharing 2 cores with another process run many times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory) -> Path:
    pos3d, pos2d = make_positions(ACTIONS, seed=2, frames=(60, 100))
    return write_dataset(tmp_path_factory.mktemp("h36m_train"), pos3d, pos2d)


@pytest.fixture(scope="module")
def data(train_dir) -> TrainingData:
    return load_training_data(train_dir, subjects_train=["S1", "S5"], subjects_test=["S9", "S11"])


def fit(config, data, **kwargs):
    """train() -> (model, history)."""
    result = train(config, data, **kwargs)
    return result.model, result.history


def small_config(**changes) -> TrainConfig:
    return TrainConfig(**{"filter_widths": (3, 3), "channels": 32, "epochs": 3, "batch_size": 128,
                          "dropout": 0.0, "learning_rate": 0.003, **changes})


# ------------------------------------------------------------------------------- batch generator

def ramp_sequences(lengths, j=17):
    """2D frames whose values encode (sequence, frame, joint), and 3D the same plus a third coord."""
    p2, p3 = [], []
    for s, t in enumerate(lengths):
        frame = np.arange(t, dtype=np.float32)[:, None, None]
        joint = np.arange(j, dtype=np.float32)[None, :, None]
        base = 1000 * s + frame + joint / 100                   # (T, J, 1)
        p2.append(np.concatenate([base + 0.5, np.broadcast_to(joint, base.shape) + 0.25], -1).astype(np.float32))
        p3.append(np.concatenate([base + 0.5, np.broadcast_to(joint, base.shape) + 0.25, base], -1).astype(np.float32))
    return p2, p3


def expected_chunk(p, seq, start, length):
    """Frames start .. start+length-1 of sequence `seq`, edge-padded: upstream's ChunkedGenerator."""
    idx = np.clip(np.arange(start, start + length), 0, p[seq].shape[0] - 1)
    return p[seq][idx]


@pytest.mark.parametrize("chunk,causal", [(1, False), (4, False), (5, True)])
def test_chunks_match_the_padded_source(chunk, causal):
    pad = 4
    shift = pad if causal else 0
    p2, p3 = ramp_sequences([13, 7, 30])
    gen = ChunkedBatches(8, p2, p3, chunk=chunk, pad=pad, causal_shift=shift, augment=False)
    assert len(gen) == sum((t + chunk - 1) // chunk for t in (13, 7, 30))
    batch = gen.gather(np.arange(len(gen)))
    x, y = batch.inputs_2d, batch.targets_3d
    assert x.shape == (len(gen), chunk + 2 * pad, 17, 2) and y.shape == (len(gen), chunk, 17, 3)
    covered = set()
    for i in range(len(gen)):
        seq = int(y[i, 0, 0, 2] // 1000)
        t = p3[seq].shape[0]          # which chunk start is it? (overhanging chunks repeat edge frames)
        n = (t + chunk - 1) // chunk
        starts = np.arange(n) * chunk - (n * chunk - t) // 2
        first = [s for s in starts if np.array_equal(expected_chunk(p3, seq, s, chunk), y[i])]
        assert first, f"example {i}: target is not a chunk of sequence {seq}"
        s = first[0]
        np.testing.assert_array_equal(x[i], expected_chunk(p2, seq, s - pad - shift, chunk + 2 * pad))
        covered.update((seq, f) for f in range(max(s, 0), min(s + chunk, t)))
    assert covered == {(s, f) for s, t in enumerate((13, 7, 30)) for f in range(t)}


def test_flipped_chunks_mirror_2d_3d_and_cameras_alike():
    """As upstream's ChunkedGenerator: each sequence's chunks, then their mirrored copies (x negated, left and
    right swapped in 2D and 3D; the camera centre's x and first tangential coefficient negated)."""
    p2, p3 = ramp_sequences([20, 11])
    cams = [np.arange(9, dtype=np.float32) + 10 * s for s in range(2)]
    gen = ChunkedBatches(4, p2, p3, cams, chunk=3, pad=2, augment=True, symmetry=SYMMETRY)
    assert len(gen) == 2 * (7 + 4) and gen.flips.sum() == len(gen) // 2
    assert gen.flips.tolist() == [False] * 7 + [True] * 7 + [False] * 4 + [True] * 4      # upstream's pair order
    batch = gen.gather(np.arange(len(gen)))
    x, y, c = batch.inputs_2d, batch.targets_3d, batch.cameras
    plain, flipped = np.r_[0:7, 14:18], np.r_[7:14, 18:22]
    assert np.array_equal(gen.starts[plain], gen.starts[flipped])
    kp, jp = SYMMETRY[0].permutation(17), SYMMETRY[1].permutation(17)
    np.testing.assert_array_equal(x[flipped, :, :, 0], -x[plain][:, :, kp, 0])
    np.testing.assert_array_equal(x[flipped, :, :, 1], x[plain][:, :, kp, 1])
    np.testing.assert_array_equal(y[flipped, ..., 0], -y[plain][:, :, jp, 0])
    np.testing.assert_array_equal(y[flipped, ..., 1:], y[plain][:, :, jp, 1:])
    np.testing.assert_array_equal(c[plain], np.repeat(np.stack(cams), [7, 4], axis=0))
    np.testing.assert_array_equal(c[flipped], c[plain] * np.where(np.isin(np.arange(9), [2, 7]), -1, 1))
    # joint identity (coordinate 1 holds the joint index): left and right really swapped
    assert x[7, 0, 4, 1] == 1.25 and y[7, 0, 1, 1] == 4.25


def test_epoch_covers_every_example_once_in_a_seeded_order():
    p2, p3 = ramp_sequences([25, 9])
    runs = []
    for _ in range(2):
        gen = ChunkedBatches(5, p2, p3, chunk=2, pad=3, augment=True, symmetry=SYMMETRY, seed=7)
        batches = list(gen.epoch())
        assert [len(b) for b in batches[:-1]] == [5] * (len(batches) - 1)
        assert sum(len(b) for b in batches) == len(gen)
        runs.append(np.concatenate([b.targets_3d for b in batches]))
    np.testing.assert_array_equal(*runs)
    # the order is RandomState(seed) shuffling upstream's list of (sequence, start, end, flip) pairs
    pairs = np.stack([gen.sequence, gen.starts, gen.flips], axis=1)
    shuffled = np.random.RandomState(7).permutation(pairs)
    everything = gen.gather(np.arange(len(gen))).targets_3d
    expected = [everything[np.flatnonzero((pairs == row).all(1))[0]] for row in shuffled]
    np.testing.assert_array_equal(runs[0], np.stack(expected))


def test_an_endless_generator_continues_its_pass_and_restores_it():
    """The unlabeled generator runs across epochs; its position travels in vp3d's checkpoints, so that a restored
    copy gives the same batches as the original."""
    p2, _ = ramp_sequences([25, 9])
    gen = ChunkedBatches(4, p2, augment=False, seed=3, endless=True)
    n = gen.num_batches                                    # 9 + 5 chunks in batches of 4: 4 per pass
    first = [gen.next_batch().inputs_2d for _ in range(n + 2)]     # a whole pass and two of the next
    np.testing.assert_array_equal(np.concatenate(first[:n]), gen.gather(np.random.RandomState(3).permutation(
        len(gen))).inputs_2d)
    saved_random, position = copy.deepcopy(gen.random), gen.position()
    later = [gen.next_batch().inputs_2d for _ in range(n)]
    other = ChunkedBatches(4, p2, augment=False, seed=99, endless=True)
    other.restore(saved_random, position)
    for a, b in zip(later, [other.next_batch().inputs_2d for _ in range(n)], strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------- model

@pytest.mark.parametrize("widths,causal", [((3, 3, 3), False), ((3, 5), True), ((5,), False)])
def test_single_frame_forward_matches_the_full_forward(widths, causal):
    model = random_model(widths, 16, causal=causal)
    x = torch.randn(6, model.receptive_field, 17, 2)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_single_frame(x), model(x), atol=1e-5, rtol=1e-5)


def test_mpjpe_loss_is_the_mean_joint_distance():
    pred = torch.zeros(2, 1, 17, 3)
    target = torch.zeros(2, 1, 17, 3)
    target[..., 0] = 3.0
    target[..., 1] = 4.0
    assert mpjpe(pred, target).item() == pytest.approx(5.0)


# ------------------------------------------------------------------------------------ schedules

def test_schedules_follow_upstream():
    assert learning_rate(0) == 0.001
    assert learning_rate(2, 0.001, 0.95) == pytest.approx(0.001 * 0.95 ** 2)
    assert bn_momentum(0, 60) == pytest.approx(0.1)
    assert bn_momentum(60, 60) == pytest.approx(0.001)
    assert bn_momentum(30, 60) == pytest.approx(0.01)          # geometric mean halfway
    m = np.array([bn_momentum(e, 10) for e in range(11)])
    np.testing.assert_allclose(m[1:] / m[:-1], (0.001 / 0.1) ** (1 / 10), rtol=1e-9)  # geometric


def test_training_applies_the_schedules(data):
    config = small_config(epochs=3, lr_decay=0.5, validate=False)
    _, history = fit(config, data)
    assert [h.epoch for h in history] == [1, 2, 3]
    assert [h.lr for h in history] == pytest.approx([0.003, 0.0015, 0.00075])
    assert [h.bn_momentum for h in history] == pytest.approx([0.1 * math.exp(-e / 3 * math.log(100)) for e in range(3)])
    assert all(h.val_mpjpe_mm is None for h in history)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="dropout"):
        TrainConfig(dropout=1.0)
    with pytest.raises(ValueError, match="chunk"):
        TrainConfig(chunk=2048, batch_size=1024)
    with pytest.raises(ValueError, match="lr decay"):
        TrainConfig(lr_decay=1.5)


# ------------------------------------------------------------------------------------- training

def test_loss_decreases_on_a_tiny_dataset(data):
    torch.manual_seed(0)
    config = small_config(epochs=6)
    untrained = evaluate(TemporalModel(config.model_config()), data).average["mpjpe"]
    result = train(config, data)
    train_losses = [h.train_mpjpe_mm for h in result.history]
    assert train_losses[-1] < 0.6 * train_losses[0], train_losses
    # these fixtures' test bodies are random point clouds, unlike the training ones: only a weak check
    assert result.final.average["mpjpe"] < untrained, (untrained, result.final.average)
    model = result.model
    assert not model.training and model.config.weight_layout == "conv1d"


def test_chunk_training_also_learns(data):
    _, history = fit(small_config(chunk=8, batch_size=64, epochs=4), data)
    assert history[-1].train_mpjpe_mm < 0.6 * history[0].train_mpjpe_mm


def test_max_minutes_stops_after_the_first_epoch(data, tmp_path):
    out = tmp_path / "budget.bin"
    _, history = fit(small_config(epochs=50, max_minutes=1e-6), data, outputs=Outputs(last=out))
    assert len(history) == 1
    assert checkpoint.load_raw(out)["epoch"] == 1


def test_evaluate_matches_a_hand_computation(data):
    model = random_model((3, 3), 16)
    seq = data.test[0]
    result = evaluate(model, TrainingData(dataset("h36m"), [], [seq], [], data.keypoint_symmetry))
    pad = model.config.pad
    padded = np.pad(seq.poses_2d, ((pad, pad), (0, 0), (0, 0)), mode="edge")
    with torch.no_grad():
        direct = model(torch.from_numpy(padded[None]))[0].numpy()
        mirror_in = padded.copy()
        mirror_in[..., 0] *= -1
        mirror_in[:, SYMMETRY[0].permutation(17)] = mirror_in.copy()
        mirror = model(torch.from_numpy(mirror_in[None]))[0].numpy()
    mirror[..., 0] *= -1
    mirror = mirror[:, SYMMETRY[1].permutation(17)]
    gt = seq.poses_3d.copy()
    gt[:, 0] = 0
    expected = 1000 * np.linalg.norm((direct + mirror) / 2 - gt, axis=-1).mean()
    assert result.average["mpjpe"] == pytest.approx(expected, rel=1e-4)
    assert list(result.actions) == [seq.group]


def test_final_evaluation_matches_the_evaluation_pipeline(train_dir, data, tmp_path):
    """The final evaluation after training is what preprocess -> inference -> postprocess reports."""
    from vp3d.pipeline.evaluation import evaluate as evaluate_pipeline
    from vp3d.pipeline.preprocess import preprocess
    from vp3d.pipeline.sequences import INPUTS_DIR

    ckpt = tmp_path / "model.bin"
    result = train(small_config(epochs=1), data, outputs=Outputs(last=ckpt))
    model = checkpoint.load(ckpt)
    length = max(s.poses_2d.shape[0] for s in data.test) + model.receptive_field - 1
    manifest = preprocess(train_dir, tmp_path / "prep", ["S9", "S11"], filter_widths=(3, 3), lengths=[length])
    (tmp_path / "results").mkdir()
    with torch.inference_mode():
        for e in manifest.entries:
            x = read_array(tmp_path / "prep" / INPUTS_DIR / f"{e.name}.bin", (2, length, 17, 2))
            write_array(tmp_path / "results" / f"{e.name}_0.bin", model(torch.from_numpy(x)).numpy())
    results = evaluate_pipeline(tmp_path / "prep", tmp_path / "results")
    assert result.final.average["mpjpe"] == pytest.approx(results.average["mpjpe"], rel=1e-5)


# ----------------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("weight_layout,prefix", [("conv1d", False), ("conv2d", True)])
def test_saved_checkpoint_reproduces_the_trained_model(data, tmp_path, weight_layout, prefix):
    out = tmp_path / f"{weight_layout}.bin"
    model, history = fit(small_config(epochs=2), data,
                         outputs=Outputs(last=out, weight_layout=weight_layout, module_prefix=prefix))
    raw = checkpoint.load_raw(out)
    assert set(raw) == {"epoch", "lr", "random_state", "optimizer", "model_pos", "model_traj", "random_state_semi",
                        "model_args", "vp3d_resume"}
    assert raw["model_args"]["keypoint_symmetry"] == data.keypoint_symmetry.to_json()   # the data's, recorded
    assert raw["epoch"] == 2 and raw["lr"] == pytest.approx(learning_rate(2, 0.003, 0.95))
    assert isinstance(raw["random_state"], np.random.RandomState) and raw["optimizer"]["state"]
    assert ("module." if prefix else "") + "expand_conv.weight" in raw["model_pos"]
    assert all(k.startswith("module.") == prefix for k in raw["model_pos"])
    loaded = checkpoint.load(out)
    assert loaded.config.weight_layout == weight_layout and loaded.config.filter_widths == (3, 3)
    x = torch.randn(2, 40, 17, 2)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x), atol=1e-5, rtol=1e-5)
    assert not list(tmp_path.glob(".*.tmp"))          # written atomically, nothing left behind


# ------------------------------------------------------------------------------------------- CLI

def test_cli_trains_and_writes_a_checkpoint(train_dir, tmp_path, capsys):
    out = tmp_path / "model_best.bin"
    rc = vp3d_train.main(["-d", str(train_dir), "--subjects-train", "S1,S5", "--subjects-test", "S9,S11",
                          "-arc", "3,3", "--channels", "16", "-e", "2", "-b", "64", "-o", str(out), "--threads", "1",
                          "--weight-layout", "conv2d", "--module-prefix", "--device", "cpu", "--seed", "3",
                          "--fps", "60", "--downsample", "2"])
    assert rc == 0
    assert checkpoint.load(out).config.weight_layout == "conv2d"
    assert checkpoint.load(out).config.fps == 30.0          # every 2nd frame of a 60 fps dataset: 30 fps recorded
    text = capsys.readouterr()
    assert re.search(r"^\[2\] time [\d.]+ lr 0.000950 3d_train [\d.]+ 3d_eval [\d.]+ 3d_valid [\d.]+$",
                     text.out + text.err, re.M), text.out + text.err


@pytest.mark.parametrize("argv", [
    ["-arc", "3,4"],                      # even width
    ["-e", "0"],
    ["--dropout", "1.5"],
    ["--chunk", "2048"],                  # longer than the batch
    ["--weight-layout", "conv3d"],
    ["--device", "tpu"],
    ["-lr", "-1"],
    ["--subset", "0"],
    ["--export-training-curves", "--no-eval"],
])
def test_bad_flags_exit_with_code_2(train_dir, tmp_path, argv):
    base = ["-d", str(train_dir), "-o", str(tmp_path / "x.bin")]
    with pytest.raises(SystemExit) as e:
        vp3d_train.main(base + argv)
    assert e.value.code == 2
    assert not (tmp_path / "x.bin").exists()


def test_cli_reports_a_missing_dataset_in_one_line(tmp_path, capsys):
    rc = vp3d_train.main(["-d", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.bin"), "--device", "cpu"])
    one_line_error(capsys, rc, "nowhere")


def test_cli_rejects_unknown_subjects(train_dir, tmp_path, capsys):
    rc = vp3d_train.main(["-d", str(train_dir), "-o", str(tmp_path / "x.bin"), "--subjects-train", "S7",
                          "--device", "cpu"])
    assert rc == 2 and "S7" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_cuda_without_a_gpu_is_one_line_error(train_dir, tmp_path, capsys):
    rc = vp3d_train.main(["-d", str(train_dir), "-o", str(tmp_path / "x.bin"), "--device", "cuda"])
    one_line_error(capsys, rc, "CUDA")
    assert not (tmp_path / "x.bin").exists()


def validation_mpjpe(path: Path, sequences) -> float:
    """Upstream's 3d_valid (mm) of the checkpoint at `path`, computed here from scratch: each whole sequence
    edge-padded, unflipped, the ground truth's root zeroed, the mean joint distance weighted by frames."""
    model = checkpoint.load(path).eval()
    pad = model.receptive_field // 2
    total, frames = 0.0, 0
    for seq in sequences:
        x = np.pad(seq.poses_2d, ((pad, pad), (0, 0), (0, 0)), mode="edge")
        with torch.no_grad():
            pred = model(torch.from_numpy(x[None]))[0].numpy()
        gt = seq.poses_3d.copy()
        gt[:, 0] = 0
        total += np.sqrt(((pred - gt) ** 2).sum(-1)).sum() / 17
        frames += len(gt)
    return 1000 * total / frames


def test_training_keeps_the_best_validation_epoch_apart_from_the_last(train_dir, tmp_path):
    data = load_training_data(train_dir, subjects_train=["S1", "S5"], subjects_test=["S9", "S11"])
    # a learning rate high enough that validation error goes up again before the end
    config = TrainConfig(filter_widths=(3, 3), channels=32, epochs=3, batch_size=128, dropout=0.0, learning_rate=0.1)
    last, best = tmp_path / "last.bin", tmp_path / "best.bin"
    _, history = fit(config, data, outputs=Outputs(last=last, best=best))
    vals = [h.val_mpjpe_mm for h in history]
    best_epoch = 1 + int(np.argmin(vals))
    assert best_epoch < len(history), f"this run's validation error never rose again: {vals}"
    assert checkpoint.load_raw(best)["epoch"] == best_epoch and checkpoint.load_raw(last)["epoch"] == len(history)
    best_mm, last_mm = validation_mpjpe(best, data.test), validation_mpjpe(last, data.test)
    assert best_mm == pytest.approx(min(vals), rel=1e-4) and last_mm == pytest.approx(vals[-1], rel=1e-4)
    assert best_mm < last_mm


def test_without_validation_no_best_file_is_written(train_dir, tmp_path):
    data = load_training_data(train_dir, subjects_train=["S1", "S5"], subjects_test=["S9", "S11"])
    config = TrainConfig(filter_widths=(3,), channels=8, epochs=1, batch_size=128, validate=False)
    train(config, data, outputs=Outputs(last=tmp_path / "last.bin", best=tmp_path / "best.bin"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.bin"]


def test_train_cli_writes_last_and_best(train_dir, tmp_path, capsys):
    out = tmp_path / "model.bin"
    base = ["-d", str(train_dir), "--subjects-train", "S1,S5", "--subjects-test", "S9,S11", "-arc", "3,3",
            "--channels", "32", "-b", "128", "--dropout", "0", "-lr", "0.1", "--threads", "1", "--device", "cpu"]
    assert vp3d_train.main([*base, "-e", "5", "-o", str(out)]) == 0
    text = capsys.readouterr()
    vals = [float(v) for v in re.findall(r"3d_valid ([\d.]+)$", text.out + text.err, re.M)]
    best = tmp_path / "model_best.bin"                             # the default: OUTPUT's stem + _best
    assert len(vals) == 5 and sorted(p.name for p in tmp_path.iterdir()) == ["model.bin", "model_best.bin"]
    assert checkpoint.load_raw(best)["epoch"] == 1 + int(np.argmin(vals))
    assert checkpoint.load_raw(out)["epoch"] == 5
    assert f"wrote {best}: best epoch, {1 + int(np.argmin(vals))}" in text.out
    # an explicit --best, and --no-eval writing no best file
    other = tmp_path / "elsewhere" / "chosen.bin"
    assert vp3d_train.main([*base, "-e", "1", "-o", str(tmp_path / "m2.bin"), "--best", str(other)]) == 0
    assert other.is_file() and not (tmp_path / "m2_best.bin").exists()
    assert vp3d_train.main([*base, "-e", "1", "-o", str(tmp_path / "m3.bin"), "--no-eval"]) == 0
    assert not (tmp_path / "m3_best.bin").exists()


@pytest.mark.parametrize("extra", [["--best", "{out}"], ["--best", "{dir}/b.bin", "--no-eval"]])
def test_train_cli_refuses_best_that_cannot_work(train_dir, tmp_path, extra):
    out = tmp_path / "m.bin"
    argv = ["-d", str(train_dir), "-o", str(out)] + [e.format(out=out, dir=tmp_path) for e in extra]
    with pytest.raises(SystemExit) as e:
        vp3d_train.main(argv)
    assert e.value.code == 2 and not list(tmp_path.iterdir())


def test_upstreams_own_command_reads_data_and_writes_checkpoint_folder(train_dir, tmp_path, monkeypatch, capsys):
    """`-d h36m` reads data/ and, without -o, epoch_N.bin go to checkpoint/ every --checkpoint-frequency epochs,
    as run.py does; --export-training-curves draws from the fourth epoch on, into that folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(train_dir)
    assert vp3d_train.main(["-d", "h36m", "-str", "S1,S5", "-ste", "S9", "-arc", "3,3", "-ch", "8", "-e", "4",
                            "-b", "256", "--checkpoint-frequency", "2", "--export-training-curves", "--threads", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == ["epoch_2.bin", "epoch_4.bin", "loss_3d.png"]
    assert checkpoint.load_raw(tmp_path / "checkpoint" / "epoch_4.bin")["epoch"] == 4
    assert (tmp_path / "checkpoint" / "loss_3d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert out.count("Saving checkpoint to checkpoint/epoch_") == 2 and "Protocol #1   (MPJPE) action-wise average" in out
