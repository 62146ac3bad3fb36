"""Figures of the results: the format the name says, the compared run beside this one."""

import pytest
from one_line_errors import one_line_error

import vp3d_postprocess

MAGIC = {"png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
         "pdf": lambda b: b.startswith(b"%PDF-"),
         "svg": lambda b: b.lstrip().startswith(b"<?xml") and b"<svg" in b[:2000]}


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf", "SVG"])
def test_plot_writes_the_format_its_suffix_names(scored, tmp_path, suffix):
    fig = tmp_path / f"results.{suffix}"
    assert vp3d_postprocess.main(["--preprocess-data", str(scored / "prep"), "--infer-results",
                                  str(scored / "results" / "2026_01_02-09_00_00"), "--plot", str(fig)]) == 0
    data = fig.read_bytes()
    assert MAGIC[suffix.lower()](data), data[:40]
    assert sum(check(data) for check in MAGIC.values()) == 1


@pytest.mark.parametrize("name", ["results.jpg", "results", "results.png.txt"])
def test_plot_refuses_other_formats_before_any_work(scored, tmp_path, capsys, name):
    """The figure's name is checked first: even with missing inputs, the error is about the figure,
    and nothing (not even --json) is written."""
    rc = vp3d_postprocess.main(["--preprocess-data", str(tmp_path / "missing"), "--infer-results",
                                str(tmp_path / "missing_too"), "--json", str(tmp_path / "r.json"),
                                "--plot", str(tmp_path / name)])
    one_line_error(capsys, rc, name, ".png, .svg or .pdf")
    assert not list(tmp_path.iterdir())


def test_plot_with_compare_and_its_refusals(run, tmp_path, capsys):
    post = lambda *extra: vp3d_postprocess.main(["--preprocess-data", str(run / "prep"), "--infer-results",
                                                 str(run / "res" / "r"), *extra])
    assert post("--json", str(tmp_path / "a.json")) == 0
    assert post("--plot", str(tmp_path / "a.svg"), "--compare", str(tmp_path / "a.json")) == 0
    svg = (tmp_path / "a.svg").read_text()
    for text in ("Protocol #1: MPJPE", "Protocol #2: P-MPJPE", "Protocol #3: N-MPJPE", "MPJVE", "this run",
                 "compared run"):
        assert text in svg, text
    capsys.readouterr()
    (tmp_path / "bad.json").write_text('{"actions": 3}')
    one_line_error(capsys, post("--plot", str(tmp_path / "b.png"), "--compare", str(tmp_path / "bad.json")),
                   "bad.json: not a results JSON")
    assert not (tmp_path / "b.png").exists()
    with pytest.raises(SystemExit):
        post("--compare", str(tmp_path / "a.json"))
    with pytest.raises(SystemExit):
        post("--save-predictions", str(tmp_path / "p.json"))
