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
    plain = {
        k: {a: v.split("?v=")[0] if a in ("src", "poster", "href") else v for a, v in t.items()}
        for k, t in tags.items()
    }
    assert plain["video"]["poster"] == "media/c.png" and "controls" in tags["video"] and "autoplay" not in page
    assert plain["source"] == {"src": "media/c.mp4", "type": "video/mp4"}
    assert plain["track"] == {
        "kind": "captions",
        "src": "media/c.vtt",
        "srclang": "en",
        "label": "Steps",
        "default": None,
    }
    assert (tmp_path / "media" / "c.vtt").read_text().count("Step ") == 7
    assert re.search(r'href="media/c\.transcript\.html\?v=[0-9a-f-]+"', page)
    assert clip.traces[0].config.lr == 0.2 and clip.traces[0].last_k == 6
    for path in (tmp_path / "media").iterdir():  # the folder cleaned up: the cell says so, no traceback
        path.unlink()
    assert clip._repr_html_() == (
        f"<p>Clip(&#x27;{clip.mp4}&#x27;, {clip.result.frames} frames, 854x480): its files cannot be read "
        "(No such file or directory)</p>"
    )


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
    assert src.split("?v=")[0] == clip.mp4.resolve().as_uri()  # past the limit: linked, never embedded


def test_show_refuses_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'lrr'"):
        descent.show(lrr=0.2, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="lrs goes with the compare scene"):
        descent.show(lrs=[0.1], out_dir=tmp_path)
    with pytest.raises(descent.RenderError, match="renders a clip"):
        descent.show("lesson", out_dir=tmp_path)
    run = train(Config(steps=3))
    with pytest.raises(ConfigError, match="lr, steps: training options go without trace="):
        descent.show(trace=run, lr=0.5, steps=9, out_dir=tmp_path)  # was rendered, lr and steps ignored
    with pytest.raises(ConfigError, match="lrs: training options go without trace="):
        descent.show("compare", trace=[run, run], lrs=[0.1, 0.2], out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"fps": "x"}, "fps must be a number"),
        ({"fps": 1e9}, "fps must be a number"),
        ({"fps": True}, "fps must be a number"),
        ({"duration": "x"}, "duration must be a number"),
        ({"duration": float("nan")}, "duration must be a number"),
        ({"seconds_per_step": -1}, "seconds_per_step must be a number"),
        ({"preset": "x"}, "unknown preset 'x'"),
        ({"quality": "x"}, "unknown quality 'x'"),
        ({"theme": "blue"}, "unknown theme 'blue'"),
        ({"layers": ["zz"]}, "layers: unknown layer 'zz'"),
        ({"trace": "not a trace"}, "trace must be a descent.Trace"),
        ({"name": 3}, "name must be a string"),
        ({"progress": "yes"}, "progress must be True or False"),
    ],
)
def test_show_refuses_bad_render_options_with_one_error_before_any_work(tmp_path, bad, message):
    """Each bad option is one RenderError naming it, raised before training or rendering (no x264 error,
    no MemoryError from a billion frames, no TypeError from deep inside), and nothing is written."""
    out = tmp_path / "media"
    with pytest.raises(descent.RenderError, match=re.escape(message)):
        descent.show(**{**({} if "trace" in bad else {"steps": 3}), "duration": 1, "out_dir": out, **bad})
    assert not out.exists()


def test_the_video_is_linked_percent_encoded_and_fetched_again_when_rerendered(tmp_path, monkeypatch):
    """A folder named with a space, # and é is linked percent-encoded (a raw # would cut the URL); a clip
    re-rendered under the same name gets a new link, so the browser does not show its cached old version."""
    monkeypatch.chdir(tmp_path)
    first = descent.show(steps=3, fps=10, duration=1, out_dir="week #1 é", name="c")
    src = re.search(r'<source src="([^"]+)"', first._repr_html_()).group(1)
    assert re.fullmatch(r"week%20%231%20%C3%A9/c\.mp4\?v=[0-9a-f]+-[0-9a-f]+", src), src
    again = descent.show(steps=3, fps=10, duration=1, out_dir="week #1 é", name="c", theme="light")
    assert re.search(r'<source src="([^"]+)"', again._repr_html_()).group(1) != src


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


def test_a_long_trace_displays_a_bounded_loss_curve():
    """2 000 steps: the curve keeps each pixel column's lowest and highest point (it wrote every step: a run of
    100 000 gave a megabyte of notebook output), from step 0 to the last step, and still going down."""
    page = train(Config(lr=0.2, steps=2_000))._repr_html_()
    points = [tuple(map(float, p.split(","))) for p in re.search(r'<polyline points="([^"]+)"', page).group(1).split()]
    assert 2 < len(points) <= 2 * 304 + 2 and len(page) < 20_000
    assert points[0][0] == 28.0 and points[-1][0] == 332.0
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    assert [y for _, y in points] == sorted(y for _, y in points)  # the loss only falls: the curve only goes down
