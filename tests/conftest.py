"""Shared fixtures: small datasets and checkpoints written in exactly the real file formats. The helpers
they use are plain modules beside this file (h36m_data, random_models, one_line_errors, repo_paths,
evil_pickle): test modules import those, never conftest."""
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
from h36m_data import TINY_ACTIONS, make_positions, write_dataset
from random_models import random_model, upstream_style_optimizer_state
from vp3d.io.files import read_array, write_array
from vp3d.model import checkpoint
from vp3d.pipeline.sequences import Manifest


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """TINY_ACTIONS in Human3.6M's files: TINY_SEQUENCES 2D sequences of 40-89 frames."""
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
