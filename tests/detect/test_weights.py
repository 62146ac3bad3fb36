"""Fetching the published detector weights: from a local HTTP server in a thread serving onnx_sdk zips built
here (a complete transfer, a truncated one, a damaged zip, the wrong model), and with no server at all;
then the files a user gives (--detector-weights)."""
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from detector_graphs import detector_graph, pose_graph, sdk_zip

from vp3d.detect.rtmpose import check_detector
from vp3d.detect.weights import cached_model, read_model
from vp3d.errors import Vp3dError

GOOD = sdk_zip(detector_graph(), "yolox_m", {"pipeline": {"tasks": []}})


class Server:
    """A local HTTP server on 127.0.0.1 serving {path: bytes}; '/truncated.zip' announces the whole file but
    sends half and closes. Counts requests per path."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.hits = files, {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if self.path == "/truncated.zip" else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    damaged = bytearray(GOOD)
    damaged[len(damaged) // 3] ^= 0xFF                          # inside the compressed model: a CRC error
    s = Server({"/good.zip": GOOD, "/truncated.zip": GOOD, "/damaged.zip": bytes(damaged),
                "/pose.zip": sdk_zip(pose_graph(), "rtmpose_m")})
    yield s
    s.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_complete_fetch_is_kept_with_its_sha256_and_fetched_once(server, tmp_path):
    model = cached_model(server.url + "/good.zip", check_detector, progress=False, folder=tmp_path)
    assert model.onnx == detector_graph() and model.pipeline == {"pipeline": {"tasks": []}}
    digest = hashlib.sha256(GOOD).hexdigest()
    assert model.sha256 == digest
    assert leftovers(tmp_path) == ["good.zip", "good.zip.sha256"]
    assert (tmp_path / "good.zip.sha256").read_text() == f"{digest}  good.zip\n"
    again = cached_model(server.url + "/good.zip", check_detector, progress=False, folder=tmp_path)
    assert again.onnx == model.onnx and server.hits["/good.zip"] == 1           # the cache, not the server
    (tmp_path / "good.zip").write_bytes(sdk_zip(detector_graph(), "other"))     # changed since it was fetched
    with pytest.raises(Vp3dError, match=r"good\.zip: its sha256 .* differs from the one recorded"):
        cached_model(server.url + "/good.zip", check_detector, progress=False, folder=tmp_path)


@pytest.mark.parametrize("path, message", [
    ("/truncated.zip", r"http://127\.0\.0\.1:\d+/truncated\.zip: the transfer ended after \d+ of \d+ bytes "
                       r"\(nothing kept\); run again, or give --detector-weights"),
    ("/damaged.zip", r"/damaged\.zip: .*(CRC|not a readable zip)"),
    ("/pose.zip", r"/pose\.zip: inputs 'input' \(1, 3, 256, 192\), outputs .*expected input 'input' \(1, 3, H, W\)"),
])
def test_a_bad_fetch_is_never_kept_or_used(server, tmp_path, path, message):
    with pytest.raises(Vp3dError, match=message) as e:
        cached_model(server.url + path, check_detector, progress=False, folder=tmp_path)
    assert "\n" not in str(e.value)
    assert leftovers(tmp_path) == []                     # no zip, no temporary file, no sha256 record


def test_no_network_is_one_line_naming_the_url_and_detector_weights(tmp_path):
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()                                # nothing listens there now
    url = f"http://127.0.0.1:{port}/yolox_m.zip"
    with pytest.raises(Vp3dError) as e:
        cached_model(url, check_detector, progress=False, folder=tmp_path)
    assert str(e.value).startswith(f"cannot fetch {url} (") and "--detector-weights DET POSE" in str(e.value)
    assert leftovers(tmp_path) == []
    with pytest.raises(Vp3dError):                       # a cache folder made for the fetch goes again
        cached_model(url, check_detector, progress=False, folder=tmp_path / "cache" / "detectors")
    assert leftovers(tmp_path) == []


def test_given_files_are_read_as_onnx_with_their_pipeline_or_as_the_published_zips(tmp_path):
    (tmp_path / "sdk").mkdir()
    (tmp_path / "sdk" / "end2end.onnx").write_bytes(detector_graph())
    (tmp_path / "sdk" / "pipeline.json").write_text('{"pipeline": {"tasks": [{"transforms": []}]}}')
    unpacked = read_model(tmp_path / "sdk" / "end2end.onnx")
    assert unpacked.pipeline == {"pipeline": {"tasks": [{"transforms": []}]}}
    (tmp_path / "det.zip").write_bytes(GOOD)
    packed = read_model(tmp_path / "det.zip")
    assert packed.onnx == unpacked.onnx and packed.sha256 == hashlib.sha256(GOOD).hexdigest()
    for name, body, message in [("x.pth", b"", r"x\.pth: detector weights must be an \.onnx file or an OpenMMLab"),
                                ("two.zip", None, r"two\.zip: holds 2 end2end\.onnx files, expected one"),
                                ("none.onnx", False, r"none\.onnx: no such detector weights file")]:
        if body is None:
            with zipfile.ZipFile(tmp_path / name, "w") as z:
                z.writestr("a/end2end.onnx", b"1")
                z.writestr("b/end2end.onnx", b"2")
        elif body is not False:
            (tmp_path / name).write_bytes(body)
        with pytest.raises(Vp3dError, match=message):
            read_model(tmp_path / name)


def test_the_published_pair_is_fetched_into_the_cache_once_then_used_from_it(server, tmp_path, monkeypatch):
    """open_detector without --detector-weights: the size's two zips from the (here local) URLs into
    $VP3D_CACHE/detectors, then a detector that runs; a second open fetches nothing."""
    from vp3d.detect import weights
    from vp3d.detect.video import open_detector
    server.files["/rtmpose.zip"] = sdk_zip(pose_graph(), "rtmpose_m")
    monkeypatch.setitem(weights.PUBLISHED, "m", (server.url + "/good.zip", server.url + "/rtmpose.zip"))
    monkeypatch.setenv("VP3D_CACHE", str(tmp_path / "cache"))
    detector = open_detector("rtmpose", "m", progress=False)
    assert leftovers(tmp_path / "cache" / "detectors") == ["good.zip", "good.zip.sha256", "rtmpose.zip",
                                                           "rtmpose.zip.sha256"]
    assert detector.record["weights"] == [hashlib.sha256(GOOD).hexdigest(),
                                          hashlib.sha256(server.files["/rtmpose.zip"]).hexdigest()]
    frame = np.full((120, 160, 3), 30, np.uint8)
    frame[59:62, 39:42] = 255
    np.testing.assert_allclose(detector(frame).keypoints[0, 0], [40, 60], atol=1.0)
    open_detector("rtmpose", "m", progress=False)
    assert server.hits == {"/good.zip": 1, "/rtmpose.zip": 1}
