import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    KEYPOINTS_SYMMETRY,
    make_positions,
    one_line_error,
    random_model,
    write_dataset,
)

import vp3d_train  # noqa: E402
from vp3d.facts.skeleton import Symmetry
from vp3d.io.files import read_array, write_array
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel
from vp3d.training.train import (
    ChunkedBatches,
    TrainConfig,
    TrainingData,
    bn_momentum,
    evaluate,
    learning_rate,
    load_training_data,
    mpjpe_loss,
    train,
)

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
    gen = ChunkedBatches(p2, p3, chunk, pad, shift, augment=False)
    assert len(gen) == sum((t + chunk - 1) // chunk for t in (13, 7, 30))
    x, y = gen.gather(np.arange(len(gen)))
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


def test_flipped_chunks_mirror_2d_and_3d_alike():
    p2, p3 = ramp_sequences([20, 11])
    gen = ChunkedBatches(p2, p3, 3, 2, augment=True, symmetry=SYMMETRY)
    assert len(gen) == 2 * (7 + 4) and gen.flips.sum() == len(gen) // 2
    x, y = gen.gather(np.arange(len(gen)))
    half = len(gen) // 2
    assert np.array_equal(gen.starts[:half], gen.starts[half:])
    kp, jp = SYMMETRY[0].permutation(17), SYMMETRY[1].permutation(17)
    np.testing.assert_array_equal(x[half:, :, :, 0], -x[:half][:, :, kp, 0])
    np.testing.assert_array_equal(x[half:, :, :, 1], x[:half][:, :, kp, 1])
    np.testing.assert_array_equal(y[half:, ..., 0], -y[:half][:, :, jp, 0])
    np.testing.assert_array_equal(y[half:, ..., 1:], y[:half][:, :, jp, 1:])
    # joint identity (coordinate 1 holds the joint index): left and right really swapped
    assert x[half, 0, 4, 1] == 1.25 and y[half, 0, 1, 1] == 4.25


def test_epoch_covers_every_example_once_in_a_seeded_order():
    p2, p3 = ramp_sequences([25, 9])
    runs = []
    for _ in range(2):
        gen = ChunkedBatches(p2, p3, 2, 3, augment=True, symmetry=SYMMETRY, random_state=np.random.RandomState(7))
        batches = list(gen.epoch(5))
        assert [len(b[0]) for b in batches[:-1]] == [5] * (len(batches) - 1)
        assert sum(len(b[0]) for b in batches) == len(gen)
        runs.append(np.concatenate([b[1] for b in batches]))
    np.testing.assert_array_equal(*runs)


# ---------------------------------------------------------------------------------------- model

@pytest.mark.parametrize("widths,causal", [((3, 3, 3), False), ((3, 5), True), ((5,), False)])
def test_single_frame_forward_matches_the_dense_model(widths, causal):
    model = random_model(widths, 16, causal=causal)
    x = torch.randn(6, model.receptive_field, 17, 2)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_single_frame(x), model(x), atol=1e-5, rtol=1e-5)


def test_mpjpe_loss_is_the_mean_joint_distance():
    pred = torch.zeros(2, 1, 17, 3)
    target = torch.zeros(2, 1, 17, 3)
    target[..., 0] = 3.0
    target[..., 1] = 4.0
    assert mpjpe_loss(pred, target).item() == pytest.approx(5.0)


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
    _, history = train(config, data)
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
    model, history = train(config, data)
    train_losses = [h.train_mpjpe_mm for h in history]
    assert train_losses[-1] < 0.6 * train_losses[0], train_losses
    # these fixtures' test bodies are random point clouds, unlike the training ones: only a weak check
    assert history[-1].val_mpjpe_mm < untrained, (untrained, history[-1].val_mpjpe_mm)
    assert not model.training and model.config.layout == "conv1d"


def test_dense_chunk_training_also_learns(data):
    _, history = train(small_config(chunk=8, batch_size=64, epochs=4), data)
    assert history[-1].train_mpjpe_mm < 0.6 * history[0].train_mpjpe_mm


def test_max_minutes_stops_after_the_first_epoch(data, tmp_path):
    out = tmp_path / "budget.bin"
    _, history = train(small_config(epochs=50, max_minutes=1e-6), data, output=out)
    assert len(history) == 1
    assert checkpoint.load_raw(out)["epoch"] == 1


def test_evaluate_matches_a_hand_computation(data):
    model = random_model((3, 3), 16)
    seq = data.test[0]
    result = evaluate(model, TrainingData([], [seq], *data.symmetry))
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


def test_validation_matches_the_evaluation_pipeline(train_dir, data, tmp_path):
    """The per-epoch validation MPJPE is what preprocess -> inference -> postprocess reports."""
    from vp3d.pipeline.evaluation import evaluate as evaluate_pipeline
    from vp3d.pipeline.preprocess import preprocess
    from vp3d.pipeline.sequences import INPUTS_DIR

    ckpt = tmp_path / "model.bin"
    _, history = train(small_config(epochs=1), data, output=ckpt)
    model = checkpoint.load(ckpt)
    length = max(s.poses_2d.shape[0] for s in data.test) + model.receptive_field - 1
    manifest = preprocess(train_dir, tmp_path / "prep", ["S9", "S11"], filter_widths=(3, 3), lengths=[length])
    (tmp_path / "results").mkdir()
    with torch.inference_mode():
        for e in manifest.entries:
            x = read_array(tmp_path / "prep" / INPUTS_DIR / f"{e.name}.bin", (2, length, 17, 2))
            write_array(tmp_path / "results" / f"{e.name}_0.bin", model(torch.from_numpy(x)).numpy())
    results = evaluate_pipeline(tmp_path / "prep", tmp_path / "results")
    assert history[-1].val_mpjpe_mm == pytest.approx(results.average["mpjpe"], rel=1e-5)


# ----------------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("layout,prefix", [("conv1d", False), ("conv2d", True)])
def test_saved_checkpoint_reproduces_the_trained_model(data, tmp_path, layout, prefix):
    out = tmp_path / f"{layout}.bin"
    model, history = train(small_config(epochs=2), data, output=out, layout=layout, module_prefix=prefix)
    raw = checkpoint.load_raw(out)
    assert set(raw) == {"epoch", "lr", "random_state", "optimizer", "model_pos", "model_traj", "random_state_semi",
                        "model_args"}
    assert raw["model_args"]["keypoint_symmetry"] == data.keypoint_symmetry.to_json()   # the data's, recorded
    assert raw["epoch"] == 2 and raw["lr"] == pytest.approx(learning_rate(2, 0.003, 0.95))
    assert isinstance(raw["random_state"], np.random.RandomState) and raw["optimizer"]["state"]
    assert all(k.startswith("module.") == prefix for k in raw["model_pos"])
    loaded = checkpoint.load(out)
    assert loaded.config.layout == layout and loaded.config.filter_widths == (3, 3)
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
    assert checkpoint.load(out).config.layout == "conv2d"
    assert checkpoint.load(out).config.fps == 30.0          # every 2nd frame of a 60 fps dataset: 30 fps recorded
    text = capsys.readouterr()
    assert "epoch   2" in text.out + text.err and "val MPJPE" in text.out + text.err


@pytest.mark.parametrize("argv", [
    ["-arc", "3,4"],                      # even width
    ["-e", "0"],
    ["--dropout", "1.5"],
    ["--chunk", "2048"],                  # longer than the batch
    ["--weight-layout", "conv3d"],
    ["--device", "tpu"],
    ["-lr", "-1"],
    [],                                   # -o missing
])
def test_bad_flags_exit_with_code_2(train_dir, tmp_path, argv):
    base = ["-d", str(train_dir)] + ([] if argv == [] else ["-o", str(tmp_path / "x.bin")])
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


TRAIN_ACTIONS = {"S1": ["Directions", "Walking"], "S5": ["Directions 1", "Walking 1"],
                 "S9": ["Directions", "Walking"], "S11": ["Walking 1"]}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def validation_mpjpe(path: Path, sequences) -> float:
    """Action-wise mean MPJPE (mm) of the checkpoint at `path` on whole sequences, computed here from
    scratch: edge padding, the mirrored input (x negated, left/right swapped) averaged back in, the
    ground truth's root zeroed, per-action frame-weighted means."""
    model = checkpoint.load(path).eval()
    pad = model.receptive_field // 2
    kp, jp = SYMMETRY[0].permutation(17), SYMMETRY[1].permutation(17)
    per_action: dict[str, list[float]] = {}
    for seq in sequences:
        x = np.pad(seq.poses_2d, ((pad, pad), (0, 0), (0, 0)), mode="edge")
        xm = x[:, kp] * np.array([-1, 1], np.float32)
        with torch.no_grad():
            y, ym = model(torch.from_numpy(np.stack([x, xm]).astype(np.float32))).numpy()
        pred = (y + ym[:, jp] * np.array([-1, 1, 1], np.float32)) / 2
        gt = seq.poses_3d.copy()
        gt[:, 0] = 0
        errors = np.sqrt(((pred - gt) ** 2).sum(-1)).mean(-1)             # per frame
        per_action.setdefault(seq.group, []).extend(errors)
    return 1000 * float(np.mean([np.mean(v) for v in per_action.values()]))


def test_training_keeps_the_best_validation_epoch_apart_from_the_last(train_dir, tmp_path, one_thread):
    data = load_training_data(train_dir, subjects_train=["S1", "S5"], subjects_test=["S9", "S11"])
    # a learning rate high enough that validation error goes up again before the end
    config = TrainConfig(filter_widths=(3, 3), channels=32, epochs=5, batch_size=128, dropout=0.0, learning_rate=0.1)
    last, best = tmp_path / "last.bin", tmp_path / "best.bin"
    _, history = train(config, data, output=last, best=best)
    vals = [h.val_mpjpe_mm for h in history]
    best_epoch = 1 + int(np.argmin(vals))
    assert best_epoch < len(history), f"this run's validation error never rose again: {vals}"
    assert checkpoint.load_raw(best)["epoch"] == best_epoch and checkpoint.load_raw(last)["epoch"] == len(history)
    best_mm, last_mm = validation_mpjpe(best, data.test), validation_mpjpe(last, data.test)
    assert best_mm == pytest.approx(min(vals), rel=1e-4) and last_mm == pytest.approx(vals[-1], rel=1e-4)
    assert best_mm < last_mm


def test_without_validation_no_best_file_is_written(train_dir, tmp_path, one_thread):
    data = load_training_data(train_dir, subjects_train=["S1", "S5"], subjects_test=["S9", "S11"])
    config = TrainConfig(filter_widths=(3,), channels=8, epochs=1, batch_size=128, validate=False)
    train(config, data, output=tmp_path / "last.bin", best=tmp_path / "best.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.bin"]


def test_train_cli_writes_last_and_best(train_dir, tmp_path, capsys, one_thread):
    out = tmp_path / "model.bin"
    base = ["-d", str(train_dir), "--subjects-train", "S1,S5", "--subjects-test", "S9,S11", "-arc", "3,3",
            "--channels", "32", "-b", "128", "--dropout", "0", "-lr", "0.1", "--threads", "1", "--device", "cpu"]
    assert vp3d_train.main([*base, "-e", "5", "-o", str(out)]) == 0
    text = capsys.readouterr()
    vals = [float(v) for v in re.findall(r"val MPJPE\s+([\d.]+) mm", text.out + text.err)]
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
