"""End-to-end renders checked with PyAV, a last-frame snapshot, and descent render's errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from descent.cli.main import cli
from descent.outputs.clip import RenderError, render
from descent.scenes.fit import FitScene
from descent.trainer import Config, Trace, train

from .conftest import ROOT, update_snapshots

CONTROL = Path(__file__).parent / "control"


def top_level_boxes(path: Path) -> list[str]:
    """The mp4's top-level box types, in file order."""
    boxes = []
    with open(path, "rb") as fh:
        while True:
            head = fh.read(8)
            if len(head) < 8:
                break
            size = int.from_bytes(head[:4], "big")
            kind = head[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(fh.read(8), "big")
                fh.seek(size - 16, 1)
            elif size == 0:
                boxes.append(kind)
                break
            else:
                fh.seek(size - 8, 1)
            boxes.append(kind)
    return boxes


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = sum(1 for _ in c.decode(s))
        return {
            "codec": s.codec_context.name,
            "width": s.width,
            "height": s.height,
            "fps": float(s.base_rate),
            "pix_fmt": s.pix_fmt,
            "frames": frames,
        }


def test_lab_clip_is_a_streamable_h264(lab_clip, lab_trace):
    info = probe(lab_clip.mp4)
    assert info == {
        "codec": "h264",
        "width": 854,
        "height": 480,
        "fps": 15.0,
        "pix_fmt": "yuv420p",
        "frames": FitScene.planned_frames(lab_trace, 15),
    }
    assert info["frames"] / 15 == pytest.approx(FitScene.planned_seconds(lab_trace), abs=2 / 15)
    boxes = top_level_boxes(lab_clip.mp4)
    assert boxes.index("moov") < boxes.index("mdat")
    # nothing but the finished files in the output directory: the clip, its poster, sidecar and transcript
    assert sorted(p.name for p in lab_clip.mp4.parent.iterdir()) == sorted(
        [lab_clip.mp4.name, lab_clip.poster.name, lab_clip.sidecar.name]
        + [f"{lab_clip.name}.transcript.{e}" for e in ("html", "md")]
    )


def test_poster_and_sidecar_agree_with_the_trace(lab_clip, lab_trace):
    with Image.open(lab_clip.poster) as im:
        assert im.size == (854, 480)
    meta = json.loads(lab_clip.sidecar.read_text())
    assert meta["config"] == lab_trace.config.to_dict()
    assert Trace.from_dict(meta["trace"]).to_json() == lab_trace.to_json()
    assert set(meta["versions"]) >= {"descent", "manim", "torch", "numpy"}
    assert meta["video"]["frames"] == probe(lab_clip.mp4)["frames"]
    assert meta["files"] == {"mp4": lab_clip.mp4.name, "poster": lab_clip.poster.name}


def test_poster_is_the_last_frame(lab_clip):
    with av.open(str(lab_clip.mp4)) as c:
        last = None
        for frame in c.decode(video=0):
            last = frame
        video = last.to_ndarray(format="rgb24").astype(float)
    poster = np.asarray(Image.open(lab_clip.poster).convert("RGB"), dtype=float)
    assert np.abs(video - poster).mean() < 3.0  # only H.264 loss between them


def test_last_frame_snapshot(lab_clip):
    """Our own frame comparison (manim's frames_comparison skips on cairo < 1.18)."""
    control = CONTROL / "fit_lab_dark_480p.png"
    got = np.asarray(Image.open(lab_clip.poster).convert("RGB"), dtype=np.int16)
    if update_snapshots() or not control.exists():
        if not update_snapshots():
            pytest.fail(f"no control image {control}; run with DESCENT_UPDATE_SNAPSHOTS=1 to create it")
        Image.fromarray(got.astype(np.uint8)).save(control, optimize=True)
    want = np.asarray(Image.open(control).convert("RGB"), dtype=np.int16)
    ok, why = frames_match(got, want)
    assert ok, why


def frames_match(got: np.ndarray, want: np.ndarray) -> tuple[bool, str]:
    """Same size, tiny mean difference, and almost no strongly different pixel
    (antialiasing and font hinting may shift a few edge pixels)."""
    if got.shape != want.shape:
        return False, f"size {got.shape} != {want.shape}"
    diff = np.abs(got - want).max(axis=2)
    strong = float((diff > 48).mean())
    if diff.mean() >= 1.0 or strong >= 0.001:
        return False, f"mean difference {diff.mean():.2f}, {strong:.3%} of pixels differ strongly"
    return True, ""


def test_snapshot_comparison_notices_a_small_change(lab_clip):
    """A marker-sized change (24×24 pixels, 0.14 % of the frame) must fail the comparison."""
    want = np.asarray(Image.open(CONTROL / "fit_lab_dark_480p.png").convert("RGB"), dtype=np.int16)
    assert frames_match(want, want)[0]
    img = want.copy()
    img[300:324, 560:584] = 255 - img[300:324, 560:584]
    assert not frames_match(img, want)[0]


@pytest.mark.parametrize("config, max_seconds", [(Config(lr=0.5, steps=40), 30), (Config(lr=0.01, steps=5000), 30)])
def test_diverging_and_long_runs_render(tmp_path, config, max_seconds):
    trace = train(config)
    res = render(trace, out_dir=tmp_path, progress=False, name="clip")
    info = probe(res.mp4)
    assert info["frames"] == FitScene.planned_frames(trace, 15)
    assert info["frames"] / info["fps"] <= max_seconds


def test_light_theme_and_trace_file(tmp_path):
    trace = train(Config(lr=0.2, steps=6))
    trace.save(tmp_path / "t.json")
    r = CliRunner().invoke(
        cli,
        [
            "render",
            "--trace",
            str(tmp_path / "t.json"),
            "--theme",
            "light",
            "--quiet",
            "--out-dir",
            str(tmp_path / "out"),
            "--duration",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    poster = tmp_path / "out" / "fit_sgd_lr0.2_steps6.png"
    assert poster.exists()
    corner = np.asarray(Image.open(poster).convert("RGB"))[2, 2]
    assert corner.tolist() == [255, 255, 255]  # the light theme's white page
    assert "wrote" in r.output


def test_failed_render_leaves_nothing(tmp_path, monkeypatch):
    import descent.outputs.clip as sr

    def boom(src, dst, audio=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sr, "faststart_remux", boom)
    with pytest.raises(RuntimeError):
        render(train(Config(steps=2)), out_dir=tmp_path, progress=False, scene_options={"descent_seconds": 0.5})
    assert list(tmp_path.iterdir()) == []


def test_render_api_errors(tmp_path):
    t = train(Config(steps=2))
    with pytest.raises(RenderError, match="unknown quality"):
        render(t, quality="x", out_dir=tmp_path)
    with pytest.raises(RenderError, match="unknown scene"):
        render(t, scene="nope", out_dir=tmp_path)
    with pytest.raises(RenderError, match="unknown scene parameter"):
        render(t, out_dir=tmp_path, scene_options={"secs": 1})
    (tmp_path / "file").write_text("x")
    with pytest.raises(RenderError, match="output"):
        render(t, out_dir=tmp_path / "file" / "sub")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return CliRunner()


BAD_RENDER = [
    (["render", "--trace", "missing.json"], "does not exist"),
    (["render", "--trace", "bad.json"], "not valid JSON"),
    (["render", "--trace", "other.json"], "unsupported schema version"),
    (["render", "--out-dir", "afile"], "is a file"),
    (["render", "--out-dir", "afile/sub"], "cannot create output directory"),
    (["render", "nope"], "nope"),
    (["render", "--lr", "-1"], "--lr"),
    (["render", "--steps", "0"], "--steps"),
    (["render", "--lr", "nan"], "finite"),
    (["render", "-q", "z"], "-q"),
    (["render", "--theme", "sepia"], "--theme"),
    (["render", "--fps", "0"], "--fps"),
    (["render", "--lr", "0.1", "--lr", "0.2"], "compare"),
    (["render", "--trace", "t.json", "--lr", "0.3"], "--trace renders a saved run"),
]


@pytest.mark.parametrize("args, needle", BAD_RENDER)
def test_render_bad_input(runner, args, needle):
    Path("bad.json").write_text("{not json")
    Path("afile").write_text("x")
    doc = json.loads(train(Config(steps=2)).to_json())
    Path("t.json").write_text(json.dumps(doc))
    doc["schema"] = "descent.trace/9"
    Path("other.json").write_text(json.dumps(doc))
    before = sorted(os.listdir("."))
    r = runner.invoke(cli, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error:") and needle in lines[0], r.output
    assert sorted(os.listdir(".")) == before
    assert not Path("media").exists() or list(Path("media").iterdir()) == []


def test_plain_manim_cli_renders_the_lab_from_the_repo_root(tmp_path):
    """`manim -ql scenes/fit.py FitScene` works from the root (manim.cfg is read from there)."""
    env = {**os.environ, "DESCENT_TRACE": ""}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "manim",
            "-ql",
            "--media_dir",
            str(tmp_path),
            "--progress_bar",
            "none",
            "scenes/fit.py",
            "FitScene",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    movies = list(tmp_path.rglob("FitScene.mp4"))
    assert len(movies) == 1
    assert probe(movies[0])["frames"] == FitScene.planned_frames(Trace.load(ROOT / "scenes" / "lab_trace.json"), 15)


def test_perfect_fit_renders(tmp_path):
    """L* = 0 (two points, or no noise) has no place on a log axis: the render still works."""
    for i, cfg in enumerate([Config(x_min=0.0, x_max=0.2), Config(noise=0.0, steps=40, lr=0.3)]):
        res = render(train(cfg), out_dir=tmp_path, name=f"p{i}", progress=False, scene_options={"descent_seconds": 1.0})
        assert probe(res.mp4)["frames"] > 0


def test_compare_refuses_runs_on_different_data(runner):
    train(Config(steps=2)).save("a.json")
    train(Config(steps=2, seed=1)).save("b.json")
    r = runner.invoke(cli, ["render", "compare", "--trace", "a.json", "--trace", "b.json"])
    assert r.exit_code == 2 and "same data" in r.output
    assert not Path("media").exists() or list(Path("media").iterdir()) == []


def test_a_name_clash_with_a_directory_writes_nothing(runner):
    Path("out/x.png").mkdir(parents=True)
    r = runner.invoke(cli, ["render", "--out-dir", "out", "--name", "x", "--steps", "2"])
    assert r.exit_code == 2 and "directory" in r.output
    assert sorted(p.name for p in Path("out").iterdir()) == ["x.png"]


def test_banner_at_exactly_lr_max():
    from descent.scenes.fit import FitScene

    trace = train(Config(lr=train(Config()).lr_max))
    cls = type("P", (FitScene,), {"trace": trace})
    scene = cls()
    scene.setup()
    assert scene.banner.active
    texts = [m.original_text for m in scene.banner.box[1]]
    assert any("On the edge" in t for t in texts) and any("lr_max" in t for t in texts)


_RENDER_TIMES = """
import sys
from descent.outputs.clip import render
from descent.outputs.warm import warm_process
from descent.trainer import Config, train
if int(sys.argv[2]) > 1:
    warm_process()  # as a batch or Dask worker is prepared
trace = train(Config(lr=0.2, steps=3))
opts = {"descent_seconds": 1.0, "intro_seconds": 0.4, "hold_seconds": 0.4}
for i in range(int(sys.argv[2])):
    render(trace, "fit", fps=10, scene_options=opts, out_dir=sys.argv[1], name=f"c{i}", progress=False)
"""


def test_a_warm_process_renders_the_bytes_a_fresh_one_does(tmp_path):
    # a worker keeps each text's outlines and shares glyph outlines between clips: its third clip is drawn
    # from those, a fresh process's first from Pango; their bytes are the same
    for folder, times in (("alone", 1), ("again", 3)):
        subprocess.run([sys.executable, "-c", _RENDER_TIMES, str(tmp_path / folder), str(times)], check=True)
    for ext in ("mp4", "png"):
        assert (tmp_path / "again" / f"c2.{ext}").read_bytes() == (tmp_path / "alone" / f"c0.{ext}").read_bytes()


def test_a_process_that_keeps_no_more_outlines_still_uses_those_kept():
    script = r"""
import tempfile
from manim import Text, tempconfig
from descent.outputs import warm
with tempconfig({"media_dir": tempfile.mkdtemp()}):
    warm.keep_text_outlines()
    Text("kept before", font="DejaVu Sans")
    n = len(warm._OUTLINES)
    warm.keep_no_more_outlines()
    again = Text("kept before", font="DejaVu Sans")
    new = Text("seen after", font="DejaVu Sans")
    assert len(warm._OUTLINES) == n == 1, warm._OUTLINES
    assert len(again.submobjects) == 10 and len(new.submobjects) == 9
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
