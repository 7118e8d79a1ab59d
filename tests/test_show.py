"""descent.show in a notebook: a clip displayed as an HTML5 video (poster, captions, transcript, no autoplay),
linked by a path relative to the notebook's folder; a Trace displayed as a table with its loss curve."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser

import pytest

import descent
from descent import Config, ConfigError, train


def parse(page: str) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    P().feed(page)
    return found


def test_show_renders_and_displays_a_linked_video(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clip = descent.show(lr=0.2, steps=6, quality="l", fps=10, duration=1, out_dir="media", name="c")
    assert clip.mp4.resolve() == tmp_path / "media" / "c.mp4" and clip.mp4.is_file()
    page = clip._repr_html_()
    tags = dict(parse(page))
    assert tags["video"]["poster"] == "media/c.png" and "controls" in tags["video"] and "autoplay" not in page
    assert tags["source"] == {"src": "media/c.mp4", "type": "video/mp4"}
    assert tags["track"] == {
        "kind": "captions",
        "src": "media/c.vtt",
        "srclang": "en",
        "label": "Steps",
        "default": None,
    }
    assert (tmp_path / "media" / "c.vtt").read_text().count("Step ") == 7
    assert 'href="media/c.transcript.html"' in page
    assert clip.traces[0].config.lr == 0.2 and clip.traces[0].last_k == 6


def test_a_clip_outside_the_notebooks_folder_is_embedded_only_when_small(tmp_path, monkeypatch):
    mod = sys.modules["descent.show"]  # the module (descent.show is the function)

    work = tmp_path / "nb"
    work.mkdir()
    monkeypatch.chdir(work)
    clip = descent.show("compare", lrs=[0.1, 0.3], steps=4, quality="l", fps=10, duration=1, out_dir=tmp_path / "out")
    page = clip._repr_html_()
    src = re.search(r'<source src="([^"]+)"', page).group(1)
    assert src.startswith("data:video/mp4;base64,")  # small: embedded
    monkeypatch.setattr(mod, "EMBED_LIMIT", 10)
    page = clip._repr_html_()
    src = re.search(r'<source src="([^"]+)"', page).group(1)
    assert src == clip.mp4.resolve().as_uri()  # past the limit: linked, never embedded


def test_show_refuses_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'lrr'"):
        descent.show(lrr=0.2, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="lrs goes with the compare scene"):
        descent.show(lrs=[0.1], out_dir=tmp_path)
    with pytest.raises(descent.RenderError, match="renders a clip"):
        descent.show("lesson", out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_trace_displays_as_a_table_with_its_loss_curve():
    page = train(Config(lr=0.2, steps=12))._repr_html_()
    rows = dict(re.findall(r"<th[^>]*>(.*?)</th><td>(.*?)</td>", page))
    assert rows["optimizer, learning rate"] == "sgd, lr = 0.2" and rows["steps run"] == "12 of 12"
    assert rows["diverged"] == "no" and rows["lr_max = 2/λ_max, lr/lr_max"] == "0.333, 0.6006"
    points = re.search(r'<polyline points="([^"]+)"', page).group(1).split()
    assert len(points) == 13
    ys = [float(p.split(",")[1]) for p in points]
    assert ys == sorted(ys)  # the loss falls at every step: the curve goes down the picture
    wild = train(Config(lr=1.5, steps=12))._repr_html_()
    assert re.search(r"<th[^>]*>diverged</th><td>at step 6: the loss exceeded 1e12</td>", wild)
