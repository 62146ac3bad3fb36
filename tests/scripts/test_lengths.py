"""Fixed, own and bucketed input lengths give the same predictions and the same report (issue: every
sequence at its own length). Tiny data: sequences of 40-90 frames, a 27-frame model (RF 27)."""
import json
import re

import numpy as np
import pytest
from h36m_data import TINY_SEQUENCES
from one_line_errors import one_line_error
from random_models import random_model

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.io.files import read_array
from vp3d.model import checkpoint
from vp3d.pipeline.sequences import Manifest


@pytest.fixture(scope="module")
def runs(tiny_dataset, tmp_path_factory):
    """The same checkpoint through the four stages with --max-length 120 (fixed), 0 (own) and 70,90,120."""
    d = tmp_path_factory.mktemp("lengths")
    ckpt = d / "m.bin"
    checkpoint.save(ckpt, random_model((3, 3, 3), 32, seed=5))
    out = {}
    for name, lengths, export in [("fixed", "120", ["--length", "120"]), ("own", "0", ["--dynamic"]),
                                  ("buckets", "70,90,120", ["--length", "70,90,120"])]:
        prep = d / f"prep_{name}"
        assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(prep), "-arc", "3,3,3",
                                     "--max-length", lengths]) == 0
        assert vp3d_pth2onnx.main(["-m", str(ckpt), "-o", str(d / f"{name}.onnx"), *export]) == 0
        models = sorted(d.glob(f"{name}*.onnx"))
        argv = [a for m in models for a in ("--model", str(m))]
        assert vp3d_infer.main([*argv, "--input", str(prep / "inputs"), "--output", str(d / "res"),
                                "--output_dirname", name]) == 0
        assert vp3d_postprocess.main(["--preprocess-data", str(prep), "--infer-results", str(d / "res" / name),
                                      "--json", str(d / f"{name}.json")]) == 0
        out[name] = {"prep": prep, "models": models, "res": d / "res" / name,
                     "report": json.loads((d / f"{name}.json").read_text()),
                     "summary": json.loads((d / "res" / f"{name}_summary.json").read_text())}
    return out


def test_own_length_inputs_are_the_sequence_plus_the_receptive_field(runs):
    m = Manifest.read(runs["own"]["prep"])
    assert len(m.entries) == TINY_SEQUENCES
    assert m.lengths == [] and all(e.length == e.frames + 26 for e in m.entries)
    deltas = json.loads((runs["own"]["prep"] / "delta_dict_padding.json").read_text())
    assert set(deltas.values()) == {0}
    for e in m.entries:
        assert (runs["own"]["prep"] / "inputs" / f"{e.name}.bin").stat().st_size == 2 * (e.frames + 26) * 17 * 2 * 4
        assert (runs["own"]["res"] / f"{e.name}_0.bin").stat().st_size == 2 * e.frames * 17 * 3 * 4


def test_buckets_take_the_smallest_length_that_fits(runs):
    m = Manifest.read(runs["buckets"]["prep"])
    assert m.lengths == [70, 90, 120]
    for e in m.entries:
        needed = e.frames + 26
        assert e.length == min(n for n in (70, 90, 120) if n >= needed)
    assert {e.length for e in m.entries} == {70, 90, 120}        # the fixture data uses every bucket
    assert [p.name for p in runs["buckets"]["models"]] == ["buckets_L120.onnx", "buckets_L70.onnx", "buckets_L90.onnx"]


def test_every_flow_gives_the_same_predictions_and_report(runs):
    fixed = Manifest.read(runs["fixed"]["prep"])
    for name in ("own", "buckets"):
        other = Manifest.read(runs[name]["prep"])
        assert len(fixed.entries) == len(other.entries) == TINY_SEQUENCES
        for a, b in zip(fixed.entries, other.entries, strict=True):
            assert (a.name, a.frames) == (b.name, b.frames)
            pa = read_array(runs["fixed"]["res"] / f"{a.name}_0.bin", (2, fixed.output_length(a), 17, 3))[:, :a.frames]
            pb = read_array(runs[name]["res"] / f"{b.name}_0.bin", (2, other.output_length(b), 17, 3))[:, :b.frames]
            np.testing.assert_allclose(pb, pa, atol=1e-5, err_msg=f"{name} {a.name}")
        assert list(runs[name]["report"]["actions"]) == list(runs["fixed"]["report"]["actions"]) == \
            ["Directions", "Walking", "Sitting"]                                   # TINY_ACTIONS' groups
        for action, row in runs["fixed"]["report"]["actions"].items():
            for metric, value in row.items():
                assert runs[name]["report"]["actions"][action][metric] == pytest.approx(value, abs=1e-3), (name, action)


def test_summary_counts_the_frames_actually_computed(runs):
    for name in ("fixed", "own", "buckets"):
        m = Manifest.read(runs[name]["prep"])
        s = runs[name]["summary"]
        seconds = sum(s["compute_time_list"]) / 1000
        assert s["frames_per_second"] == pytest.approx(sum(2 * e.length for e in m.entries) / seconds, rel=1e-9)
        assert s["useful_frames_per_second"] == pytest.approx(sum(e.frames for e in m.entries) / seconds, rel=1e-9)
    assert runs["own"]["summary"]["lengths"] == [None]
    assert runs["buckets"]["summary"]["lengths"] == [120, 70, 90]


def test_an_input_no_model_takes_is_refused_naming_both_lengths(runs, tmp_path, capsys):
    rc = vp3d_infer.main(["--model", str(runs["buckets"]["models"][0]), "--input", str(runs["buckets"]["prep"] / "inputs"),
                          "--output", str(tmp_path)])
    err = one_line_error(capsys, rc)
    assert re.search(r"\.bin: input of L = (70|90) frames, but the model takes L = 120 — export one with "
                     r"--length (70|90) \(or --dynamic\), or re-run vp3d_preprocess.py with --max-length 120$", err.strip())
    assert not any(tmp_path.iterdir())                        # refused before anything was written


def test_chunked_inference_equals_whole_sequences(runs, tmp_path):
    """--chunk smaller than every sequence: windows overlapping by RF - 1 give the whole-sequence result."""
    assert vp3d_infer.main(["--model", str(runs["own"]["models"][0]), "--input", str(runs["own"]["prep"] / "inputs"),
                            "--output", str(tmp_path), "--output_dirname", "chunked", "--chunk", "7"]) == 0
    chunked = sorted((tmp_path / "chunked").iterdir())
    assert len(chunked) == TINY_SEQUENCES
    assert [p.name for p in chunked] == sorted(p.name for p in runs["own"]["res"].iterdir())
    for p in chunked:
        np.testing.assert_allclose(np.fromfile(p, np.float32), np.fromfile(runs["own"]["res"] / p.name, np.float32),
                                   atol=1e-5, err_msg=p.name)


