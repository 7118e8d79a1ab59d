"""The gallery in a real headless browser (Debian's Chromium): every video loads its
metadata with the right duration and size, every poster loads, every captions track has its cues."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .test_batch import sweep  # noqa: F401  (the shared sweep fixture)

CHECK_PAGE = """<!doctype html><html><body>
<iframe id="f" src="index.html" width="1280" height="2000"></iframe>
<script>
const wait = (el, ev, ms) => new Promise(r => {
  const t = setTimeout(() => r('timeout'), ms);
  el.addEventListener(ev, () => { clearTimeout(t); r('ok'); }, {once: true});
});
document.getElementById('f').addEventListener('load', async () => {
  const doc = document.getElementById('f').contentDocument;
  const res = {videos: [], images: []};
  for (const v of doc.querySelectorAll('article video')) {  // the cards' videos (the explorer's is tested apart)
    if (v.readyState < 1) { v.load(); await wait(v, 'loadedmetadata', 15000); }
    const poster = new Image(); poster.src = v.poster; await poster.decode().catch(() => {});
    const tr = v.querySelector('track');
    let cues = -1;
    if (tr) {
      tr.track.mode = 'hidden';
      if (tr.readyState < 2) await wait(tr, 'load', 15000);
      cues = tr.track.cues ? tr.track.cues.length : -1;
    }
    res.videos.push({card: v.closest('article').id, src: v.currentSrc, duration: v.duration,
                     width: v.videoWidth, height: v.videoHeight, poster: poster.naturalWidth,
                     track: tr ? tr.getAttribute('src') : null, cues: cues});
  }
  for (const im of doc.querySelectorAll('img')) {
    await im.decode().catch(() => {});
    res.images.push({src: im.getAttribute('src'), width: im.naturalWidth});
  }
  await fetch('/__result', {method: 'POST', body: JSON.stringify(res)});
});
</script></body></html>"""


class _Handler(SimpleHTTPRequestHandler):
    result: dict = {}
    done = threading.Event()

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).result = json.loads(body)
        type(self).done.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def check_in_chromium(folder, profile, page: str = CHECK_PAGE) -> dict:
    """Serve ``folder`` on 127.0.0.1, open ``page`` (placed there as ``_check.html``) in Debian's headless
    Chromium, and return what the page posted back (every video, poster and captions track)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("Chromium is not installed: `make test` installs it (Debian package chromium)")
    (folder / "_check.html").write_text(page)
    handler = type("H", (_Handler,), {"done": threading.Event(), "result": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/_check.html"
    proc = subprocess.Popen(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            f"--user-data-dir={profile}",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert handler.done.wait(120), "the browser reported nothing within 120 s"
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
        (folder / "_check.html").unlink()
    return handler.result


def test_gallery_loads_in_chromium(sweep, tmp_path):  # noqa: F811
    out, _ = sweep
    res = check_in_chromium(out, tmp_path / "profile")
    manifest = json.loads((out / "manifest.json").read_text())
    expected = {name: v for name, v in manifest["variants"].items()}
    expected[manifest["compare"]["name"]] = manifest["compare"]
    assert {v["card"] for v in res["videos"]} == set(expected)
    for v in res["videos"]:
        sidecar = json.loads((out / f"{v['card']}.json").read_text())["video"]
        assert v["width"] == sidecar["width"] and v["height"] == sidecar["height"], v
        assert v["duration"] == pytest.approx(sidecar["frames"] / sidecar["fps"], abs=0.15), v
        assert v["poster"] > 0, v
        steps = len([line for line in (out / v["track"]).read_text().splitlines() if line.startswith("Step ")])
        assert v["cues"] == steps > 0, v
    assert res["videos"][0]["card"] == manifest["compare"]["name"]  # the comparison first
    loss_plot = manifest["compare"]["loss_plot"]
    assert any(im["src"] == loss_plot and im["width"] > 0 for im in res["images"])
