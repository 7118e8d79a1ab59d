"""``descent render --frames``: the poster and a few key frames as PNG, no video encoded."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from descent import FramesResult, render_frames
from descent.cli.main import cli
from descent.outputs import renderer as renderer_mod
from descent.outputs.clip import FRAME_ROLES, frame_names
from descent.trainer import Config, train

from .test_render import frames_match

FAST = {"descent_seconds": 1.0, "intro_seconds": 0.4, "hold_seconds": 0.4}


def test_frames_publish_five_pngs_and_nothing_else(tmp_path):
    trace = train(Config(steps=6))
    res = render_frames(trace, out_dir=tmp_path, name="look", fps=10, progress=False, scene_options=FAST)
    assert isinstance(res, FramesResult)
    assert sorted(os.listdir(tmp_path)) == sorted(frame_names("look"))  # no mp4, no work folder, no lock
    assert [p.name for p in res.paths] == [f"look_{r}.png" for r in FRAME_ROLES]
    assert res.steps == {"start": 0, "third": 2, "two_thirds": 4, "end": 6, "poster": 6}
    images = {r: np.asarray(Image.open(res.files[r]).convert("RGB"), dtype=np.int16) for r in FRAME_ROLES}
    for img in images.values():
        assert img.shape == (res.height, res.width, 3) == (480, 854, 3)
    # the frames show different states of the run: no two of the four key frames alike
    keys = ["start", "third", "two_thirds", "end"]
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert not frames_match(images[a], images[b])[0], (a, b)
    assert frames_match(images["end"], images["poster"])[0]  # the fit scene holds its last state


def test_only_the_key_frames_are_drawn(tmp_path, monkeypatch):
    drawn, seen = [], []
    real = renderer_mod.ProgressRenderer._draw

    def counting(self, scene, moving):
        drawn.append(self._index)
        return real(self, scene, moving)

    monkeypatch.setattr(renderer_mod.ProgressRenderer, "_draw", counting)
    trace = train(Config(steps=6))
    render_frames(
        trace,
        out_dir=tmp_path,
        fps=10,
        progress=lambda done, total: seen.append((done, total)),
        scene_options=FAST,
    )
    assert seen and seen[-1][0] == seen[-1][1]  # every frame of the clip was accounted for
    assert 1 <= len(drawn) <= len(FRAME_ROLES) < seen[-1][1] // 3


def test_poster_is_the_clips_poster(tmp_path, lab_clip, lab_trace):
    """The key frames are the clip's frames: the poster is the rendered clip's poster."""
    res = render_frames(lab_trace, out_dir=tmp_path, progress=False)
    got = np.asarray(Image.open(res.poster).convert("RGB"), dtype=np.int16)
    want = np.asarray(Image.open(lab_clip.poster).convert("RGB"), dtype=np.int16)
    ok, why = frames_match(got, want)
    assert ok, why


def test_a_clip_beside_its_frames_is_left_as_it_is(tmp_path):
    clip = {n: tmp_path / n for n in ("look.mp4", "look.png", "look.json")}
    for n, p in clip.items():
        p.write_text(f"the user's {n}")
    render_frames(train(Config(steps=2)), out_dir=tmp_path, name="look", fps=10, progress=False, scene_options=FAST)
    for n, p in clip.items():
        assert p.read_text() == f"the user's {n}"


def test_cli_frames(tmp_path):
    r = CliRunner().invoke(
        cli,
        ["render", "--frames", "--steps", "3", "-q", "l", "--fps", "10", "--duration", "1", "--quiet"]
        + ["--out-dir", str(tmp_path), "--name", "k"],
    )
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(tmp_path)) == sorted(frame_names("k"))
    assert "rendered 5 key frames" in r.output
    assert f"wrote {tmp_path / 'k_end.png'} (step 3)" in r.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["render", "lesson", "--frames"], "--frames is an option of the clips"),
        (["render", "--frames", "--voice", "espeak"], "takes no --voice"),
    ],
)
def test_cli_frames_bad_input(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.output
    assert os.listdir(tmp_path) == []
