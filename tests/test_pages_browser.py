"""The pages in Debian's headless Chromium, driven like a person: the explorer's slider moved with the keys
swaps the clip in place and keeps its position; the light and dark versions follow prefers-color-scheme;
axe-core (the npm package, injected into the page) finds no violation on the gallery or a transcript.

axe-core is installed by ``scripts/install-system-deps.sh --test`` (``make test``) under
``~/.cache/descent/axe-core``; ``DESCENT_AXE`` may name another ``axe.min.js``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from descent.cli.main import cli
from descent.publish.gallery import write_gallery

from .cdp import Browser, chromium

QUICK = ["-q", "l", "--fps", "10", "--duration", "1", "--quiet"]


def axe_script() -> str:
    path = Path(
        os.environ.get("DESCENT_AXE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "descent/axe-core/node_modules/axe-core/axe.min.js"
    )
    if not path.is_file():
        pytest.fail(
            f"axe-core is not installed at {path}: `make test` installs it (scripts/install-system-deps.sh --test)"
        )
    return path.read_text()


class _Quiet(SimpleHTTPRequestHandler):
    """A static server that answers byte ranges, as web servers do (a browser seeks a video through them)."""

    def log_message(self, *args):
        pass

    def send_head(self):
        found = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not found or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start = int(found.group(1))
        end = min(int(found.group(2)) if found.group(2) else size - 1, size - 1)
        if start > end:
            self.send_error(416)
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return io.BytesIO(data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A real sweep of three learning rates (with its comparison), served on 127.0.0.1."""
    out = tmp_path_factory.mktemp("pages") / "out"
    args = ["batch", "--lr", "0.1", "--lr", "0.2", "--lr", "0.5", "--steps", "10", "--jobs", "2"]
    r = CliRunner().invoke(cli, [*args, "--out-dir", str(out), *QUICK])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    exe = chromium()
    if exe is None:
        pytest.fail("Chromium is not installed: `make test` installs it (Debian package chromium)")
    with Browser(exe, tmp_path_factory.mktemp("profile")) as b:
        yield b


def serve(folder: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def open_page(browser, url: str, scheme: str = "dark"):
    page = browser.page()
    page.send(
        "Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    )
    page.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    page.goto(url)
    return page


def axe_violations(page) -> list[dict]:
    page.evaluate(axe_script() + "\n;0")
    return page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => "
        "({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"
    )


WAIT_VIDEO = """new Promise((resolve, reject) => {
  const v = document.getElementById('explorer-video');
  const t0 = performance.now();
  const check = () => {
    if (v.readyState >= 1 && !v.seeking && %(cond)s) return resolve({src: v.currentSrc, t: v.currentTime});
    if (performance.now() - t0 > 20000) return reject(new Error('video: ' + v.currentSrc + ' ' + v.currentTime));
    setTimeout(check, 50);
  };
  check();
})"""


def test_the_explorer_swaps_the_clip_in_place_with_the_keys(folder, browser):
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {e["lr"]: e["files"] for e in manifest["variants"].values()}
    server, root = serve(folder)
    try:
        page = open_page(browser, f"{root}/index.html")
        assert page.evaluate("document.documentElement.lang") == "en"
        start = page.evaluate(WAIT_VIDEO % {"cond": "true"})
        assert start["src"].endswith("/" + names[0.1]["mp4"])
        label = page.evaluate("document.querySelector('label[for=explore-lr]').textContent.trim()")
        assert label == "Learning rate: 0.1"
        page.evaluate(
            "new Promise(r => { const v = document.getElementById('explorer-video');"
            " v.addEventListener('seeked', r, {once: true}); v.currentTime = 0.7; })"
        )
        page.evaluate("document.getElementById('explore-lr').focus()")
        page.press("ArrowRight")
        # the other run's clip, at the same moment (paused: only the page's seek moves it); else a timeout
        at = "Math.abs(v.currentTime - 0.7) < 0.11"
        moved = page.evaluate(WAIT_VIDEO % {"cond": f"v.currentSrc.endsWith('/{names[0.2]['mp4']}') && {at}"})
        assert moved["t"] == pytest.approx(0.7, abs=0.11)
        shown = page.evaluate(
            "({ratio: document.getElementById('stat-ratio').textContent, near: document.getElementById('stat-near')"
            ".textContent, final: document.getElementById('stat-final').textContent, diverged: document"
            ".getElementById('stat-diverged').textContent, text: document.getElementById('explore-lr')"
            ".getAttribute('aria-valuetext'), poster: document.getElementById('explorer-video').getAttribute('poster'),"
            " track: document.querySelector('#explorer-video track').getAttribute('src'),"
            " focused: document.activeElement.id})"
        )
        from descent.publish.explorer import sidecar_stats

        e = manifest["variants"]["fit_lr0.2"]
        stats = sidecar_stats(folder, e["files"]["json"], e["checks"]["json"])
        assert shown["ratio"] == f"{stats['lr_ratio']:.2f} (lr_max = {stats['lr_max']:.4g})"
        assert shown["near"] == (
            str(stats["near_step"]) if stats["near_step"] is not None else "not reached in 10 steps"
        )
        assert shown["final"] == f"{stats['final_loss']:.4g}" and shown["diverged"] == "no"
        assert shown["text"] == "Learning rate 0.2" and shown["focused"] == "explore-lr"
        assert shown["poster"] == names[0.2]["poster"] and shown["track"] == names[0.2]["vtt"]
        page.press("ArrowRight")
        page.evaluate(WAIT_VIDEO % {"cond": f"v.currentSrc.endsWith('/{names[0.5]['mp4']}')"})
        page.press("Home")
        back = page.evaluate(WAIT_VIDEO % {"cond": f"v.currentSrc.endsWith('/{names[0.1]['mp4']}') && {at}"})
        assert back["t"] == pytest.approx(0.7, abs=0.11)
        # playing, it goes on playing in the next clip
        page.evaluate("document.getElementById('explorer-video').play()")
        page.press("ArrowRight")
        page.evaluate(WAIT_VIDEO % {"cond": f"v.currentSrc.endsWith('/{names[0.2]['mp4']}') && !v.paused"})
        assert page.errors() == []
    finally:
        server.shutdown()


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_axe_finds_no_violation(folder, browser, scheme):
    server, root = serve(folder)
    try:
        for name in ("index.html", "fit_lr0.2.transcript.html"):
            page = open_page(browser, f"{root}/{name}", scheme)
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # the snippets too
            assert axe_violations(page) == [], name
            assert page.errors() == [], name
    finally:
        server.shutdown()


def test_light_and_dark_follow_the_readers_scheme(folder, browser, tmp_path):
    """Hand-made: each variant twice (its files copied under a light name), one card per clip."""
    manifest = json.loads((folder / "manifest.json").read_text())
    site = tmp_path / "site"
    site.mkdir()
    entries = []
    for e in manifest["variants"].values():
        for theme in ("dark", "light"):
            files = {}
            for kind, name in e["files"].items():
                new = name.replace(e["name"], f"{e['name']}_{theme}")
                shutil.copyfile(folder / name, site / new)
                files[kind] = new
            entries.append(
                {
                    "name": f"{e['name']}_{theme}",
                    "title": f"lr = {e['lr']:g}",
                    "files": files,
                    "width": e["width"],
                    "height": e["height"],
                    "theme": theme,
                    "sweep": {"lr": e["lr"], "theme": theme},
                    "stats": {
                        "lr": e["lr"],
                        "lr_max": 0.333,
                        "lr_ratio": e["lr"] / 0.333,
                        "near_step": None,
                        "steps": 10,
                        "final_loss": e["final_loss"],
                        "diverged_at": None,
                    },
                }
            )
    write_gallery(site, entries, "T", "S")
    server, root = serve(site)
    try:
        for scheme in ("dark", "light"):
            page = open_page(browser, f"{root}/index.html", scheme)
            seen = page.evaluate(
                "[...document.querySelectorAll('article video')].filter(v => v.offsetParent !== null)"
                ".map(v => v.getAttribute('poster'))"
            )
            assert seen == [f"fit_lr{lr}_{scheme}.png" for lr in ("0.1", "0.2", "0.5")], scheme
            src = page.evaluate(WAIT_VIDEO % {"cond": "true"})["src"]
            assert src.endswith(f"/fit_lr0.1_{scheme}.mp4"), scheme
            assert axe_violations(page) == [], scheme
    finally:
        server.shutdown()


def test_one_control_per_swept_key_and_a_select_for_words(folder, browser, tmp_path):
    """Hand-made: optimizer × lr with one combination missing; the select and the slider are worked with keys."""
    from . import cdp

    cdp._KEYS.setdefault("ArrowDown", ("ArrowDown", 40, ""))
    manifest = json.loads((folder / "manifest.json").read_text())
    by_lr = {e["lr"]: e for e in manifest["variants"].values()}
    site = tmp_path / "site"
    site.mkdir()
    entries = []
    for (optimizer, lr), source in {("sgd", 0.1): 0.1, ("sgd", 0.2): 0.2, ("adam", 0.1): 0.5}.items():
        e = by_lr[source]
        files = {}
        for kind, name in e["files"].items():
            new = name.replace(e["name"], f"{optimizer}_{lr}")
            shutil.copyfile(folder / name, site / new)
            files[kind] = new
        entries.append(
            {
                "name": f"{optimizer}_{lr}",
                "title": f"{optimizer}, lr = {lr}",
                "files": files,
                "width": e["width"],
                "height": e["height"],
                "sweep": {"optimizer": optimizer, "lr": lr},
                "stats": {
                    "lr": lr,
                    "lr_max": 0.333,
                    "lr_ratio": lr / 0.333,
                    "near_step": None,
                    "steps": 10,
                    "final_loss": e["final_loss"],
                    "diverged_at": None,
                },
            }
        )
    write_gallery(site, entries, "T", "S", sweep_keys=["optimizer", "lr"])
    server, root = serve(site)
    try:
        page = open_page(browser, f"{root}/index.html")
        controls = page.evaluate(
            "[...document.querySelectorAll('#explorer-controls [data-key]')].map(c => [c.tagName, c.id, "
            "c.labels[0].textContent.trim()])"
        )
        assert controls == [["SELECT", "explore-optimizer", "Optimizer"], ["INPUT", "explore-lr", "Learning rate: 0.1"]]
        page.evaluate(WAIT_VIDEO % {"cond": "v.currentSrc.endsWith('/sgd_0.1.mp4')"})
        page.evaluate("document.getElementById('explore-optimizer').focus()")
        page.press("ArrowDown")  # adam
        page.evaluate(WAIT_VIDEO % {"cond": "v.currentSrc.endsWith('/adam_0.1.mp4')"})
        page.evaluate("document.getElementById('explore-lr').focus()")
        page.press("ArrowRight")  # adam at 0.2: never rendered
        status = page.evaluate(
            "new Promise(r => setTimeout(() => r([document.getElementById('explorer-status').textContent,"
            " document.getElementById('explorer-video').currentSrc]), 300))"
        )
        assert status[0].startswith("No clip was rendered for this combination") and status[1].endswith("/adam_0.1.mp4")
        assert axe_violations(page) == []
        assert page.errors() == []
    finally:
        server.shutdown()


def test_nothing_overflows_the_page_on_a_phone(folder, browser, tmp_path):
    """At 390 px wide (a phone), in both schemes: the explorer's numbers (a long run title such as
    ``lr = 0.1, optimizer = sgd, momentum = 0.5``) stay inside their column (they ran into the explorer's
    padding and border) and the page never scrolls sideways."""
    manifest = json.loads((folder / "manifest.json").read_text())
    site = tmp_path / "site"
    site.mkdir()
    entries = []
    for e in manifest["variants"].values():
        for name in e["files"].values():
            shutil.copyfile(folder / name, site / name)
        entries.append(
            {
                "name": e["name"],
                "title": f"lr = {e['lr']:g}, optimizer = sgd, momentum = 0.5, batch_size = 16",
                "files": e["files"],
                "width": e["width"],
                "height": e["height"],
                "sweep": {"lr": e["lr"]},
                "stats": {"lr": e["lr"], "lr_max": 0.333, "lr_ratio": e["lr"] / 0.333, "steps": 10, "final_loss": 1.0},
            }
        )
    write_gallery(site, entries, "T", "S")
    server, root = serve(site)
    try:
        for scheme in ("dark", "light"):
            page = browser.page()
            page.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
            )
            page.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
            page.goto(f"{root}/index.html")
            out = page.evaluate(
                "(() => { const box = document.getElementById('explorer-stats').parentElement.getBoundingClientRect();"
                " const outside = (r) => r.width && (r.right > box.right + 0.5 || r.left < box.left - 0.5);"
                " const out = [...document.querySelectorAll('#explorer-stats *')].filter(el =>"
                " outside(el.getBoundingClientRect()) || el.tagName === 'DD' && el.scrollWidth > el.clientWidth + 1)"
                " .map(el => el.id || el.tagName);"
                " return {out, wide: document.documentElement.scrollWidth - document.documentElement.clientWidth}; })()"
            )
            assert out == {"out": [], "wide": 0}, scheme
    finally:
        server.shutdown()


def test_a_pasted_snippet_fits_a_phone(folder, browser, tmp_path):
    """The plain-HTML snippet pasted as it is into a bare page 390 px wide: the video (854 px by its
    attributes) and the GIF shrink to the page, keeping their shape; nothing scrolls sideways."""
    from descent.publish.embed import embed_snippets

    manifest = json.loads((folder / "manifest.json").read_text())
    e = manifest["variants"]["fit_lr0.1"]
    files = dict(e["files"])
    files["gif"] = "clip.gif"
    shutil.copyfile(folder / files["poster"], tmp_path / "clip.gif")  # a still stands in for the GIF
    for name in e["files"].values():
        shutil.copyfile(folder / name, tmp_path / name)
    code = embed_snippets(files, "lr = 0.1", width=e["width"], height=e["height"])[0]["code"]
    (tmp_path / "course.html").write_text(
        f"<!doctype html><html lang=en><meta name=viewport content='width=device-width'>"
        f"<title>Course</title><body>{code}</body></html>"
    )
    server, root = serve(tmp_path)
    try:
        page = browser.page()
        page.send(
            "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
        )
        page.goto(f"{root}/course.html")
        page.evaluate("new Promise(r => { const i = document.querySelector('img'); i.complete ? r() : i.onload = r; })")
        sizes = page.evaluate(
            "[...document.querySelectorAll('video, img')].map(el => { const r = el.getBoundingClientRect();"
            " const page = document.documentElement.clientWidth;"
            " return [el.tagName, r.right <= page, Math.round(r.width / r.height * 9)]; })"
        )
        assert sizes == [["VIDEO", True, 16], ["IMG", True, 16]]
        assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0
    finally:
        server.shutdown()
