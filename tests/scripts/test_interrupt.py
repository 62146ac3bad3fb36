"""Every script does its work inside cli.run: Ctrl-C there ends it with the one line 'error: interrupted' and exit
130, SIGTERM with 'error: terminated (SIGTERM)' and 143, whatever the script was doing. The work is replaced by
one that is interrupted at once; the arguments name files that do not exist, so a script that read or wrote
anything before cli.run would fail otherwise (exit 2, or a traceback)."""
import importlib

import pytest

from vp3d import cli
from vp3d.errors import Terminated

ARGV = {
    "vp3d_convert": ["poses.npz", "-o", "out.bvh"],
    "vp3d_detect": ["clip.mp4", "-o", "clip_2d.npz"],
    "vp3d_infer": ["--model", "m.onnx", "--input", "prep", "--output", "out"],
    "vp3d_lift": ["clip.json", "-m", "m.onnx", "-o", "out.npz"],
    "vp3d_postprocess": ["--preprocess-data", "prep", "--infer-results", "out"],
    "vp3d_preprocess": ["-d", "data", "-s", "prep"],
    "vp3d_pth2onnx": ["-m", "m.bin", "-o", "m.onnx"],
    "vp3d_quantize": ["--model", "m.onnx", "--calibration", "prep", "-o", "q.onnx"],
    "vp3d_render": ["poses.npz", "-o", "out.gif"],
    "vp3d_synthesize": ["-o", "data"],
    "vp3d_train": ["-d", "data", "-o", "model.bin"],
}


@pytest.mark.parametrize("signal_, line, code", [(KeyboardInterrupt, "error: interrupted", 130),
                                                  (Terminated, "error: terminated (SIGTERM)", 143)])
@pytest.mark.parametrize("script", sorted(ARGV))
def test_an_interrupted_script_is_one_line_and_its_exit_code(script, signal_, line, code, monkeypatch, capsys,
                                                             tmp_path):
    monkeypatch.chdir(tmp_path)
    real_run, bodies = cli.run, []

    def interrupted(body, args):
        bodies.append(body)

        def work(a):
            raise signal_()
        return real_run(work, args)
    monkeypatch.setattr(cli, "run", interrupted)
    assert importlib.import_module(script).main(ARGV[script]) == code
    err = capsys.readouterr().err
    assert err == line + "\n" and len(bodies) == 1
    assert not list(tmp_path.iterdir())                 # nothing written before the work
