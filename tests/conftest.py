"""Shared fixtures: small datasets and checkpoints written in exactly the real file formats."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import vp3d_infer
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.facts.architecture import ModelConfig
from vp3d.facts.cameras import h36m_cameras, project_to_2d, world_to_camera
from vp3d.facts.skeleton import kept_joints
from vp3d.io.files import read_array, write_array
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel, randomize_batchnorm
from vp3d.pipeline.sequences import Manifest

ROOT = Path(__file__).resolve().parents[1]          # the repository
SHARED = Path(os.environ.get("VP3D_SHARED", ROOT.parent / "shared"))   # a worktree: VP3D_SHARED=/work/shared
GOLDEN = SHARED / "reference" / "golden"
KEYPOINTS_SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
TINY_ACTIONS = {"S9": ["Directions", "Directions 1", "Walking", "Sitting 1"],
                "S11": ["Directions 1", "Walking", "Walking 1", "Sitting 1"]}


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def check_one_line_error(err: str, rc: int, *fragments: str) -> str:
    """A user error as the scripts report it (cli.run): exit status 2, stderr exactly one line starting
    'error: ' (no traceback), holding each of `fragments`. Returns the line."""
    assert rc == 2, (rc, err)
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err, err
    for f in fragments:
        assert f in err, (f, err)
    return err.strip()


def one_line_error(capsys, rc: int, *fragments: str) -> str:
    """check_one_line_error on what a script's main() just wrote to stderr (pytest's capsys)."""
    return check_one_line_error(capsys.readouterr().err, rc, *fragments)


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def golden_dir() -> Path:
    """The shared golden case; skips the test where ../shared is absent (a user's clone)."""
    if not (GOLDEN / "upstream_eval.json").is_file():
        pytest.skip("../shared/reference/golden is not available")
    return GOLDEN


def make_positions(actions: dict[str, list[str]], seed: int = 0, frames=(40, 90)):
    """Small Human3.6M-format data: (positions_3d, positions_2d) as upstream's .npz files hold them.

    3D: (T, 32, 3) float32 world metres, a body-sized point cloud moving smoothly near the origin.
    2D: the 17 kept joints projected into the 4 cameras, pixels, with noise and 0-3 extra frames.
    """
    rng = np.random.default_rng(seed)
    kept = kept_joints()
    pos3d, pos2d = {}, {}
    for subject, names in actions.items():
        pos3d[subject], pos2d[subject] = {}, {}
        for action in names:
            t = int(rng.integers(*frames))
            base = rng.normal(0, 0.25, (1, 32, 3)) + [0, 0, 0.9]
            phase = rng.uniform(0, 2 * np.pi, (1, 32, 3))
            time = np.arange(t)[:, None, None] / 50
            walk = np.stack([0.5 * np.sin(time[..., 0] * 0.7), 0.3 * time[..., 0], 0 * time[..., 0]], -1)
            world = (base + 0.1 * np.sin(2 * np.pi * 0.8 * time + phase) + walk).astype(np.float32)
            pos3d[subject][action] = world
            cams = []
            for cam in h36m_cameras()[subject]:
                px = project_to_2d(world_to_camera(world[:, kept], cam.orientation, cam.translation), cam)
                px = px + rng.normal(0, 2.0, px.shape)
                extra = int(rng.integers(0, 4))
                px = np.concatenate([px, px[-1:].repeat(extra, 0)]) if extra else px
                cams.append(px.astype(np.float32))
            pos2d[subject][action] = cams
    return pos3d, pos2d


def write_dataset(directory: Path, pos3d, pos2d, keypoints: str = "cpn_ft_h36m_dbb") -> Path:
    """Write the two .npz files as upstream's prepare_data scripts do."""
    directory.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(directory / "data_3d_h36m.npz", positions_3d=pos3d)
    metadata = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": KEYPOINTS_SYMMETRY}
    np.savez_compressed(directory / f"data_2d_h36m_{keypoints}.npz", positions_2d=pos2d, metadata=metadata)
    return directory


def random_model(filter_widths=(3, 3), channels=32, weight_layout="conv1d", seed=0, causal=False,
                 joints_in=17, joints_out=17, dense=False) -> TemporalModel:
    """A TemporalModel with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = TemporalModel(ModelConfig(filter_widths=tuple(filter_widths), channels=channels,
                                      weight_layout=weight_layout, causal=causal, dense=dense,
                                      num_joints_in=joints_in, num_joints_out=joints_out))
    return randomize_batchnorm(model, seed).eval()


class Evil:
    """Unpickling this creates `path`: tests check that the file never appears."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def upstream_style_optimizer_state(model: TemporalModel) -> dict:
    """An Adam state dict after one step, as run.py saves it."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    model.train()
    model(torch.randn(2, model.receptive_field + 4, 17, 2)).square().mean().backward()
    opt.step()
    model.eval()
    return opt.state_dict()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    pos3d, pos2d = make_positions(TINY_ACTIONS, seed=1)
    return write_dataset(tmp_path_factory.mktemp("h36m"), pos3d, pos2d)


@pytest.fixture(scope="session")
def humaneva_dataset(tmp_path_factory) -> Path:
    """HumanEva-I-format data (the golden case's: tests/golden_case.py): data_3d_humaneva15.npz,
    data_2d_humaneva15_gt.npz (15 keypoints) and data_2d_humaneva15_detectron_pt_coco.npz (COCO-17, with
    'Unlabeled/' entries)."""
    from golden_case import write_humaneva_data
    d = tmp_path_factory.mktemp("humaneva")
    write_humaneva_data(d)
    return d


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """The same random 27-frame model saved as upstream run.py (conv1d) and as the Ascend recipe
    (conv2d, 'module.' prefixes); both with a RandomState and optimizer state."""
    d = tmp_path_factory.mktemp("ckpt")
    model = random_model((3, 3, 3), 32, seed=3)
    opt = upstream_style_optimizer_state(model)
    paths = {"conv1d": d / "upstream.bin", "conv2d": d / "model_best.bin"}
    checkpoint.save(paths["conv1d"], model, "conv1d", epoch=80, lr=1.6e-5, optimizer=opt,
                    random_state=np.random.RandomState(5))
    checkpoint.save(paths["conv2d"], model, "conv2d", module_prefix=True, epoch=80, lr=1.6e-5,
                    optimizer=opt, random_state=np.random.RandomState(5))
    return paths


@pytest.fixture(scope="session")
def scored(tiny_dataset, tiny_checkpoints, tmp_path_factory):
    """Preprocessed tiny data (RF 27) and predictions of the tiny model, as ais_bench would write them."""
    d = tmp_path_factory.mktemp("scored")
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(d / "prep"), "-arc", "3,3,3",
                                 "--max-length", "120"]) == 0
    m = Manifest.read(d / "prep")
    model = checkpoint.load(tiny_checkpoints["conv2d"])
    for run in ("2026_01_01-10_00_00", "2026_01_02-09_00_00"):
        for e in m.entries:
            x = read_array(d / "prep" / "inputs" / f"{e.name}.bin", m.input_shape(e))
            with torch.inference_mode():
                write_array(d / "results" / run / f"{e.name}_0.bin", model(torch.from_numpy(x)).numpy())
    os.utime(d / "results" / "2026_01_01-10_00_00", (2e9, 2e9))       # the older name, modified last
    return d


def small_dataset(tmp_path, mutate=None, keypoints="cpn_ft_h36m_dbb") -> Path:
    """tmp_path/data: a small Human3.6M-format dataset (S9, S11) saved with np.savez as upstream does;
    mutate(pos3d, pos2d, metadata) edits it first (the bad-input tests break it that way)."""
    pos3d, pos2d = make_positions({"S9": ["Walking", "Greeting 1"], "S11": ["Walking"]}, seed=4)
    meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": KEYPOINTS_SYMMETRY,
            "note": str(tmp_path / "pwned")}     # where a malicious pickle would write (see _evil_meta)
    if mutate:
        mutate(pos3d, pos2d, meta)
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    np.savez(d / "data_3d_h36m.npz", positions_3d=pos3d)
    np.savez(d / f"data_2d_h36m_{keypoints}.npz", positions_2d=pos2d, metadata=meta)
    return d


@pytest.fixture(scope="session")
def run(tiny_dataset, tmp_path_factory) -> Path:
    """The tiny data preprocessed (prep/, RF 9, L 110), a random model exported (m.onnx) and run on it (res/r/)."""
    d = tmp_path_factory.mktemp("post")
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(d / "prep"), "-arc", "3,3", "--max-length", "110"]) == 0
    checkpoint.save(d / "m.bin", random_model((3, 3), 16, seed=2))
    assert vp3d_pth2onnx.main(["-m", str(d / "m.bin"), "-o", str(d / "m.onnx"), "--length", "110"]) == 0
    assert vp3d_infer.main(["--model", str(d / "m.onnx"), "--input", str(d / "prep" / "inputs"),
                            "--output", str(d / "res"), "--output_dirname", "r"]) == 0
    return d
