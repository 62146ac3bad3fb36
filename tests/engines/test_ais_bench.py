"""The Ascend NPU through the ais_bench tool: its command line, and one clear line where it is missing."""
import sys

import pytest

from vp3d.engines import ais_bench, backends, devices
from vp3d.errors import Vp3dError


def test_ais_bench_missing_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "npu_devices", lambda: ())
    om = tmp_path / "vp3d_seq64.om"
    om.write_bytes(b"\0")
    with pytest.raises(Vp3dError) as e:
        backends.open_session(om)
    msg = str(e.value)
    assert "\n" not in msg and str(om) in msg
    assert "ais_bench" in msg and "CANN" in msg and "Ascend tools repository" in msg


def test_ais_bench_command():
    cmd = ais_bench.ais_bench_command("m.om", "in", "out", "run1", "BIN", loop=10, warmup_count=2, python="python3")
    assert cmd == ["python3", "-m", "ais_bench", "--model", "m.om", "--input", "in", "--output", "out",
                   "--output_dirname", "run1", "--outfmt", "BIN", "--batchsize", "1", "--loop", "10",
                   "--warmup_count", "2"]
    pure = ais_bench.ais_bench_command("m.om", loop=5)
    assert pure[:3] == [sys.executable, "-m", "ais_bench"] and "--input" not in pure and "--output" not in pure
    assert pure[-2:] == ["--loop", "5"]
