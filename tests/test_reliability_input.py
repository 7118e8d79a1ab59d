"""Odd but valid input (issue 8): a run that starts at the optimum, files that are not files,
deep nesting, unbounded drawing costs, control characters, and outputs that are not regular files.

Every test here failed on the code as it was at a86f2f2 (see each test's docstring for how).
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from descent.cli.main import cli, summary
from descent.scenes.compare import CompareScene
from descent.scenes.fit import FitScene
from descent.scenes.surface import SurfaceScene
from descent.trainer import Config, ConfigError, Trace, TraceError, load_toml, train, view_window

from .conftest import build_scene

FAST = ["-q", "l", "--fps", "10", "--duration", "1", "--quiet"]


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def one_error_line(result) -> str:
    """The single line a failed command printed on stderr (exit code 2, no traceback)."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error: "), result.stderr
    return lines[0]


def run_cli(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m descent ARGS`` in its own process, its address space capped at 3 GB, so
    that a command reading a device whole fails with MemoryError instead of filling the machine."""

    def cap_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    return subprocess.run(
        [sys.executable, "-m", "descent", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap_memory,
    )


# -- 1. a path of length zero ---------------------------------------------------------------------
def _at_optimum(noise: float, steps: int = 15) -> Trace:
    if noise == 0:
        return train(Config(noise=0.0, w0=1.0, b0=-1.0, steps=steps))
    w, b, _ = train(Config(noise=noise, steps=1)).optimum  # the exact least-squares optimum
    return train(Config(noise=noise, w0=w, b0=b, steps=steps))


@pytest.mark.parametrize(
    "scene_cls, noise",
    [(FitScene, 0.0), (FitScene, 0.1), (SurfaceScene, 0.0), (SurfaceScene, 0.1), (CompareScene, 0.1)],
)
def test_a_run_that_starts_at_the_optimum_is_drawn(scene_cls, noise):
    """At a86f2f2: ZeroDivisionError (loss axis of zero height) or a broadcast ValueError
    (placing the optimum's label with no path to keep clear of)."""
    trace = _at_optimum(noise)
    assert np.ptp(trace.w) < 1e-12 and np.ptp(trace.b) < 1e-12  # the path has length zero
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no division by zero anywhere
        if scene_cls is CompareScene:
            scene, group = build_scene(scene_cls, None, traces=[trace, dataclasses.replace(trace)])
        else:
            scene, group = build_scene(scene_cls, trace)
        for t in np.linspace(0.0, scene.ctx.clock.t_max, 7):
            scene.tracker.set_value(float(t))
            group.update(0)
    lo, hi = scene.loss.y_range
    assert hi > lo  # a real loss axis
    w_opt, b_opt, _ = trace.optimum
    if scene_cls is SurfaceScene:  # the surface spans a readable neighbourhood of the optimum, not a point
        (w0, w1), (b0, b1) = scene.surface.w_range, scene.surface.b_range
        assert w0 < w_opt < w1 and b0 < b_opt < b1 and w1 - w0 >= 0.25 and b1 - b0 >= 0.25
    else:
        contour = scene.contour
        assert contour.contains(w_opt, b_opt)
        win = contour.window
        # the window is a readable neighbourhood of the optimum, not a point
        assert win.w[1] - win.w[0] >= 0.25 and win.b[1] - win.b[0] >= 0.25
        opt_label = contour.static[-1]
        assert contour._inside(contour.axes.p2c(opt_label.get_center())[:2], 0.0)  # the label is placed, in view
        assert len(contour.static[2]) > 0  # contour labels placed


def test_a_start_on_the_optimum_gets_a_window_around_it():
    """At a86f2f2 the window was 0.08 wide: the minimum span was used for the margins only."""
    win = view_window((1.0, -1.0), (1.0, -1.0))
    assert win.contains(1.0, -1.0)
    assert win.w[1] - win.w[0] >= 0.25 and win.b[1] - win.b[0] >= 0.25
    # far from 0 it is still a window float64 can draw
    far = view_window((1e9, 3e9), (1e9, 3e9))
    assert far.w[1] - far.w[0] >= 1e-6 * 3e9 and far.b[1] - far.b[0] >= 1e-6 * 3e9
    assert Trace.from_json(train(Config(noise=0.0, w0=1.0, b0=-1.0, steps=1)).to_json()).window.w[0] < 1.0


def test_rendering_a_run_that_starts_at_the_optimum(runner):
    """At a86f2f2: a ZeroDivisionError traceback."""
    r = runner.invoke(cli, ["render", *FAST, "--noise", "0", "--w0", "1", "--b0", "-1", "--out-dir", "out"])
    assert r.exit_code == 0, (r.output, r.exception)
    kinds = (".transcript.html", ".transcript.md", ".mp4", ".png", ".json")
    found = sorted(next((k for k in kinds if p.name.endswith(k)), p.name) for p in Path("out").iterdir())
    assert found == sorted(kinds)


@pytest.mark.parametrize(
    "window",
    [
        {"w": [1.0, 1.0000000000000002], "b": [-1.0, -0.9999999999999999], "w_step": 0.02, "b_step": 0.02},
        {"w": [-20.0, 10.0], "b": [-15.0, 5.0], "w_step": 1e-9, "b_step": 5.0},
    ],
)
def test_a_window_that_cannot_be_drawn_is_refused_on_load(runner, window):
    """At a86f2f2 both passed validation, then rendering asked numpy for 149 GiB of ticks
    (MemoryError), or generated ticks for minutes."""
    d = json.loads(train(Config(steps=3)).to_json())
    d["analysis"]["window"] = window
    with pytest.raises(TraceError, match="analysis.window"):
        Trace.from_dict(d)
    Path("t.json").write_text(json.dumps(d))
    line = one_error_line(runner.invoke(cli, ["render", *FAST, "--trace", "t.json", "--out-dir", "out"]))
    assert "analysis.window" in line
    assert not Path("out").exists() or not any(Path("out").iterdir())


def test_every_trace_the_trainer_writes_loads_again():
    """Data squeezed near x = 0 put the optimum (and the trainer's window) far beyond 1e12; the clip
    renders, so its trace must load. At a86f2f2 the saved trace was refused ("|values| at most 1e12")."""
    trace = train(Config(x_min=-1e-150, x_max=1e-150, x_step=1e-152, steps=2))
    assert max(abs(v) for v in trace.window.w) > 1e100
    assert Trace.from_json(trace.to_json()).to_json() == trace.to_json()
    d = json.loads(trace.to_json())  # a window far from such a run is still refused
    d["analysis"]["window"]["w"] = [1e290, 1e291]
    with pytest.raises(TraceError, match="analysis.window"):
        Trace.from_dict(d)


@pytest.mark.parametrize("scene_cls", [FitScene, SurfaceScene, CompareScene])
def test_a_trace_object_with_a_window_of_zero_size_is_still_drawn(scene_cls):
    """A Trace built through the Python API is not validated like a file: its window may have zero
    size. The scenes then use the window the trainer would give. At a86f2f2: ZeroDivisionError."""
    from descent.trainer import Window

    trace = dataclasses.replace(train(Config(steps=3)), window=Window((1.0, 1.0), (-1.0, -1.0), 0.0, 0.0))
    if scene_cls is CompareScene:
        scene, group = build_scene(scene_cls, None, traces=[trace])
    else:
        scene, group = build_scene(scene_cls, trace)
    scene.tracker.set_value(scene.ctx.clock.t_max)
    group.update(0)
    panel = scene.surface if scene_cls is SurfaceScene else scene.contour
    assert panel.inside(trace.w[0], trace.b[0]) if scene_cls is SurfaceScene else panel.contains(-15.0, -10.0)


# -- 2. files that are not files, and files that are too large -----------------------------------
@pytest.mark.parametrize("option", ["--trace", "--config"])
def test_dev_zero_is_refused_at_once(tmp_path, option):
    """At a86f2f2 /dev/zero was read whole (here: until the 3 GB cap, a MemoryError traceback)."""
    command = ["render", *FAST, "--out-dir", "out"] if option == "--trace" else ["train", "--steps", "1"]
    r = run_cli([*command, option, "/dev/zero"], tmp_path)
    assert r.returncode == 2, r.stderr[-500:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "/dev/zero" in lines[0] and "character device" in lines[0], r.stderr[-500:]
    assert r.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    """At a86f2f2 opening a FIFO blocked until a writer came (here: the 30 s timeout)."""
    os.mkfifo(tmp_path / "pipe.json")
    os.mkfifo(tmp_path / "pipe.toml")
    for args in (["render", *FAST, "--trace", "pipe.json"], ["train", "--config", "pipe.toml"]):
        r = run_cli(args, tmp_path, timeout=30)
        assert r.returncode == 2 and "FIFO" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    """At a86f2f2 a 4 GB (sparse) file was read whole: MemoryError under the 3 GB cap."""
    for name in ("huge.json", "huge.toml"):
        with open(tmp_path / name, "wb") as fh:
            fh.truncate(4 << 30)
    for args in (["render", *FAST, "--trace", "huge.json"], ["train", "--config", "huge.toml"]):
        r = run_cli(args, tmp_path)
        assert r.returncode == 2 and "too large" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[
            -300:
        ]


def test_the_read_caps_hold_for_files_that_lie_about_their_size(tmp_path, monkeypatch):
    """Small caps (monkeypatched) on real files: over the cap is one error, at the cap loads.
    At a86f2f2 there was no cap to patch, so the over-cap files loaded."""
    import descent.trainer.config as config_module
    import descent.trainer.trace as trace_module

    trace = train(Config(steps=3))
    p = trace.save(tmp_path / "t.json")
    size = p.stat().st_size
    monkeypatch.setattr(trace_module, "MAX_TRACE_BYTES", size, raising=False)
    assert Trace.load(p).n_states == 4
    monkeypatch.setattr(trace_module, "MAX_TRACE_BYTES", size - 1, raising=False)
    with pytest.raises(TraceError, match="too large"):
        Trace.load(p)
    toml = tmp_path / "c.toml"
    toml.write_text("lr = 0.2\n" + "# a comment\n" * 100)
    monkeypatch.setattr(config_module, "MAX_TOML_BYTES", 1000, raising=False)
    with pytest.raises(ConfigError, match="too large"):
        load_toml(toml)
    toml.write_text("lr = 0.2\n")
    assert load_toml(toml) == {"lr": 0.2}


def test_the_largest_run_fits_well_under_the_trace_cap():
    """The cap is computed from the limits; the largest trace the trainer can write (100 000 steps
    with mini-batch gradients, 100 000 points, every number at its longest) is well under it.
    At a86f2f2 there was no cap."""
    from descent.trainer import config as config_module
    from descent.trainer import trace as trace_module

    cap = trace_module.MAX_TRACE_BYTES
    n, steps = config_module.MAX_POINTS, config_module.MAX_STEPS
    longest = -1.2345678901234567e-100
    cfg = Config(x_min=-3.0, x_max=3.0, x_step=6.0 / n, steps=steps, batch_size=1)
    assert cfg.n_points() == n
    column = np.full(steps + 1, longest)
    big = dataclasses.replace(
        train(Config(steps=1)),
        config=cfg,
        x=np.full(n, longest),
        y=np.full(n, longest),
        w=column,
        b=column,
        loss=column,
        grad_w=column,
        grad_b=column,
        batch_grad_w=column,
        batch_grad_b=column,
    )
    size = len(big.to_json().encode())
    assert size < cap / 1.5, (size, cap)
    assert cap < 200e6  # and the cap is not so large that it stops protecting anything


# -- 3. deep nesting -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "lr = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n",
        "lr = " + "[" * 150 + "1" + "]" * 150 + "\n",  # parses, then is quoted in the error
    ],
)
def test_deeply_nested_toml_is_one_line(runner, text):
    """At a86f2f2: a RecursionError traceback (the first two), a 300-character quote (the third)."""
    Path("deep.toml").write_text(text)
    line = one_error_line(runner.invoke(cli, ["train", "--config", "deep.toml"]))
    assert "deep.toml" in line or "lr must be" in line
    assert len(line) < 300


def test_deeply_nested_json_in_a_trace_is_one_short_line(runner):
    """Nested deeper than the parser allows, and nested within what it allows (then quoted in the
    error). At a86f2f2 the second printed the whole 1 800-character nest."""
    base = train(Config(steps=3)).to_json()
    Path("a.json").write_text("[" * 100_000 + "]" * 100_000)
    Path("b.json").write_text(base.replace('"lr": 0.1', '"lr": ' + "[" * 900 + "]" * 900, 1))
    for name in ("a.json", "b.json"):
        line = one_error_line(runner.invoke(cli, ["render", *FAST, "--trace", name, "--out-dir", "out"]))
        assert name in line and len(line) < 300, line[:400]


# -- 5. control characters from input never reach the terminal -----------------------------------
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202e"


def _clean(text: str) -> bool:
    return not any(c in text for c in "\x1b\x07\x9b\u202e")


def test_summary_never_prints_control_characters():
    """A trace object carries text the trainer did not write. At a86f2f2 summary() printed it raw."""
    diverged = train(Config(lr=5.0, steps=50))
    assert diverged.diverged
    odd = dataclasses.replace(diverged, diverged_reason=ESCAPES)
    text = summary(odd)
    assert _clean(text) and "owned" in text
    assert text.count("\n") == summary(diverged).count("\n")  # no line break smuggled in either


def test_error_messages_never_print_control_characters(runner):
    """A file name with escape sequences in a trace error. At a86f2f2 the name was printed raw."""
    name = f"run{ESCAPES}\n.json"
    Path(name).write_text("{ not json")
    line = one_error_line(runner.invoke(cli, ["render", *FAST, "--trace", name, "--out-dir", "out"]))
    assert _clean(line) and "not valid JSON" in line
    Path("c.toml").write_text(f'optimizer = "{ESCAPES}"\n'.replace("\x1b", "\\u001b").replace("\x07", "\\u0007"))
    line = one_error_line(runner.invoke(cli, ["train", "--config", "c.toml"]))
    assert _clean(line) and "optimizer" in line


def test_written_paths_are_printed_without_control_characters(runner):
    """``train --out`` named with escape sequences (say, a name a script read from a directory).
    At a86f2f2 "wrote NAME" sent them to the terminal raw."""
    name = f"t{ESCAPES}.json"
    r = runner.invoke(cli, ["train", "--steps", "2", "--out", name])
    assert r.exit_code == 0, r.output
    assert Trace.load(name).n_states == 3
    assert _clean(r.output) and "wrote t" in r.output


# -- 6. outputs that are not regular files -------------------------------------------------------
def test_train_out_refuses_a_fifo_and_links_to_devices(runner):
    """At a86f2f2 the FIFO and the links were replaced by regular files (on /dev/null itself, the
    device node would have been replaced: not tried here, for the machine's sake)."""
    os.mkfifo("pipe")
    os.symlink("/dev/null", "null-link")
    os.symlink("pipe", "pipe-link")
    os.symlink("nowhere", "dangling")
    for target in ("pipe", "null-link", "pipe-link", "dangling"):
        line = one_error_line(runner.invoke(cli, ["train", "--steps", "2", "--out", target]))
        assert target in line and "regular file" in line
    assert stat.S_ISFIFO(os.lstat("pipe").st_mode)
    assert all(os.path.islink(p) for p in ("null-link", "pipe-link", "dangling"))
    assert os.readlink("null-link") == "/dev/null" and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sorted(os.listdir(".")) == ["dangling", "null-link", "pipe", "pipe-link"]  # no temporary left


def test_train_out_refuses_a_device_node(runner):
    """A character device of our own (root only). At a86f2f2 it was replaced by a regular file."""
    try:
        os.mknod("null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    line = one_error_line(runner.invoke(cli, ["train", "--steps", "2", "--out", "null"]))
    assert "character device" in line
    assert stat.S_ISCHR(os.lstat("null").st_mode)


def test_train_out_writes_through_a_link_to_a_regular_file(runner):
    """The policy: a symlink to a regular file is written through (the link stays a link).
    At a86f2f2 the link was replaced by a regular file and the file it named kept its old content."""
    Path("runs").mkdir()
    Path("runs/old.json").write_text("old")
    os.symlink("runs/old.json", "latest.json")
    r = runner.invoke(cli, ["train", "--steps", "2", "--out", "latest.json"])
    assert r.exit_code == 0, r.output
    assert os.path.islink("latest.json")
    assert Trace.load("runs/old.json").n_states == 3
    assert sorted(os.listdir("runs")) == ["old.json"]


# -- 4. a clip's cost is bounded by its frame count ------------------------------------------------
def _hidden_tick_marks(axes) -> int:
    return sum(len(getattr(a, "ticks", ())) for a in (axes.x_axis, axes.y_axis))


@pytest.mark.parametrize("x_max, x_step", [(1e-6, 1e-8), (1e-10, 1e-12)])
def test_a_tiny_x_range_keeps_the_data_panel_in_its_box(x_max, x_step):
    """At a86f2f2 Manim built its hidden tick marks 1e-6 past each end of the range: for x up to
    1e-6 they moved the whole panel off screen; for x up to 1e-10, 50 000 of them took minutes."""
    trace = train(Config(x_min=0.0, x_max=x_max, x_step=x_step, steps=2))
    scene, group = build_scene(FitScene, trace)
    box = scene.data.axes
    assert _hidden_tick_marks(box) <= 200
    assert box.width == pytest.approx(6.5 - 0.75, abs=0.2) and box.height == pytest.approx(3.9 - 0.55, abs=0.2)
    assert abs(box.get_center()[0] - (-3.55 + 0.3)) < 0.2  # where fit_layout puts it
    labels = scene.data.static[2]  # the tick labels: distinct numbers, not the same rounded value
    texts = {tuple(np.round(m.points[:, :2] - m.get_center()[:2], 3).ravel()) for m in labels}
    assert len(texts) >= 4


def test_a_huge_data_set_is_drawn_as_a_sample_the_legend_names():
    """100 000 points (the most a config allows) are drawn as a seeded sample of 2 000.
    At a86f2f2 every point was its own Dot: 100 000 of them, and nothing said so."""
    from descent.scenes.helpers import MAX_DRAWN, sample_indices

    trace = train(Config(x_step=6e-5, steps=2))
    assert trace.x.size == 100_000
    scene, _ = build_scene(FitScene, trace)
    dots = scene.data.dots
    assert len(dots) == MAX_DRAWN
    # drawn as one layer over the fitted line: one circle per point of the sample
    assert len(scene.data.point_layer.points) == MAX_DRAWN * len(dots[0].points)
    legend = scene.data.static[-1]
    text = legend[0][1].original_text.replace("\u2009", " ")
    assert text == "data (2 000 of 100 000 shown)"
    assert legend.get_right()[0] < 0.3  # shrunk to the lab's legend width: clear of the contour panel
    # representative: the sample spans the data; deterministic: the same sample every time
    xs = np.sort([scene.data.axes.p2c(d.get_center())[0] for d in dots])
    assert xs[0] < -2.9 and xs[-1] > 2.9
    sample = sample_indices(trace.x.size, MAX_DRAWN, seed=trace.config.seed)  # seeded: the same every time
    expected = scene.data.map(trace.x[sample], trace.y[sample])
    assert np.allclose([d.get_center() for d in dots], expected)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["data"].update(x=d["data"]["x"] * 2, y=d["data"]["y"] * 2), "data holds 120 points"),
        (lambda d: d["data"].update(x=d["data"]["x"][:50], y=d["data"]["y"][:50]), "data holds 50 points"),
        (lambda d: d["data"].update(x=[v + 0.05 for v in d["data"]["x"]]), "not the x grid"),
    ],
)
def test_a_trace_whose_data_disagree_with_its_config_is_refused(runner, mutate, message):
    """At a86f2f2 all three were accepted (and drawn: 200 000 points took minutes)."""
    d = json.loads(train(Config(steps=2)).to_json())
    mutate(d)
    with pytest.raises(TraceError, match=message):
        Trace.from_dict(d)
    Path("t.json").write_text(json.dumps(d))
    assert message in one_error_line(runner.invoke(cli, ["render", *FAST, "--trace", "t.json", "--out-dir", "out"]))


def _long_minibatch_trace(steps: int = 10_000) -> Trace:
    """A mini-batch run of ``steps`` updates (batch size 1), simulated in numpy: training it with
    torch would take half a minute, and the scenes only read the arrays."""
    from descent.trainer import loss_at

    base = train(Config(steps=1, batch_size=1))
    x, y = base.x, base.y
    rng = np.random.default_rng(0)
    w, b = np.empty(steps + 1), np.empty(steps + 1)
    w[0], b[0] = -15.0, -10.0
    for k, i in enumerate(rng.integers(0, x.size, steps)):
        r = w[k] * x[i] + b[k] - y[i]
        w[k + 1], b[k + 1] = w[k] - 0.1 * 2 * r * x[i], b[k] - 0.1 * 2 * r
    m = base.moments
    residual = w[:, None] * x[None, :] + b[:, None] - y[None, :]
    return dataclasses.replace(
        base,
        config=base.config.replace(steps=steps),
        w=w,
        b=b,
        loss=np.asarray(loss_at(m, w, b)),
        grad_w=2 * (residual * x).mean(axis=1),
        grad_b=2 * residual.mean(axis=1),
        batch_grad_w=None,
        batch_grad_b=None,
        window=view_window((w[0], b[0]), m.optimum()[:2], zip(w, b, strict=True)),
    )


def test_a_long_run_draws_a_bounded_path_that_shows_every_state():
    """10 000 noisy states: the path, loss curve and 3-D path have a bounded number of corners at every
    frame, every state lies within a pixel of a drawn corner, and every long move is drawn as it is.
    At a86f2f2 every frame drew every state passed (10 000 corners, a Python loop per segment to clip)."""
    from manim import config

    from descent.scenes.helpers import MAX_DRAWN

    trace = _long_minibatch_trace()
    pixel = config.frame_width / config.pixel_width
    scene, group = build_scene(FitScene, trace)
    for t in np.linspace(0.0, scene.ctx.clock.t_max, 6):
        scene.tracker.set_value(float(t))
        group.update(0)
        assert len(scene.contour.paths[0].points) // 4 <= MAX_DRAWN
        assert len(scene.loss.curves[0].points) // 4 <= 2 * MAX_DRAWN
    corners = np.vstack([scene.contour.paths[0].points[::4], scene.contour.paths[0].points[-1:]])[:, :2]
    states = scene.contour.map(trace.w, trace.b)[:, :2]
    inside = np.array([scene.contour.contains(w, b) for w, b in zip(trace.w, trace.b, strict=True)])
    nearest = np.concatenate(
        [
            np.min(np.linalg.norm(chunk[:, None, :] - corners[None, :, :], axis=2), axis=1)
            for chunk in np.array_split(states[inside], 20)
        ]
    )
    assert float(nearest.max()) < 1.5 * pixel
    moves = np.linalg.norm(np.diff(states, axis=0), axis=1)
    checked = 0
    for k in np.flatnonzero(moves > 3 * pixel)[:500]:  # a long move onto new ground (the approach): drawn as it is
        if np.min(np.linalg.norm(states[: k + 1] - states[k + 1], axis=1)) > 2 * pixel:
            assert np.min(np.linalg.norm(corners - states[k + 1], axis=1)) < 1e-9
            checked += 1
    assert checked >= 5 and np.allclose(corners[0], states[0])
    surface, group = build_scene(SurfaceScene, trace)
    surface.tracker.set_value(surface.ctx.clock.t_max)
    group.update(0)
    assert 2 <= len(surface.surface.path.points) // 4 <= MAX_DRAWN


# -- 7. standard streams that are closed or full ---------------------------------------------------
def _run_streams(args: list[str], cwd: Path, *, stdout=None, stderr=None, close_stdout: bool = False):
    """``python -m descent ARGS`` with its standard streams set up as a careless shell would."""

    def setup() -> None:
        if close_stdout:
            os.close(1)

    return subprocess.run(
        [sys.executable, "-m", "descent", *args],
        cwd=cwd,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.PIPE,
        timeout=120,
        preexec_fn=setup,
    )


def test_a_closed_stdout_is_no_traceback(tmp_path):
    """``descent train >&-``: the trace is still written and the exit code is 0.
    Before: AttributeError ('NoneType' object has no attribute 'flush') and exit 1."""
    r = _run_streams(["train", "--steps", "2", "--out", "t.json"], tmp_path, close_stdout=True)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert Trace.load(tmp_path / "t.json").n_states == 3


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_or_stderr_is_one_line_and_exit_2(tmp_path):
    """stdout on a full disk: one line on stderr, exit 2 (before: an OSError traceback, exit 1);
    stderr on a full disk: bad input still exits 2 (before: exit 1, the traceback lost)."""
    with open("/dev/full", "w") as full:
        r = _run_streams(["train", "--steps", "2"], tmp_path, stdout=full)
        assert r.returncode == 2, r.stderr
        assert r.stderr.decode().strip().splitlines() == [
            "descent: error: cannot write to standard output: No space left on device"
        ]
        r = _run_streams(["train", "--lr", "-1"], tmp_path, stderr=full)
        assert r.returncode == 2 and r.stdout == b""


# -- 8. what a clip says is true -------------------------------------------------------------------
def test_the_divergence_banner_states_the_true_relation_of_lr_and_lr_max():
    """Mini-batches of 1 diverge at lr 0.3, below the full data's lr_max of 0.333. Before, the
    banner read "lr = 0.3 ≥ lr_max = 2/λ_max = 0.333" (any lr below lr_max was shown as ≥)."""
    from manim import Text

    trace = train(Config(lr=0.3, batch_size=1, steps=100))
    assert trace.diverged and trace.config.lr < trace.lr_max
    scene, _ = build_scene(FitScene, trace)
    lines = [m.text for m in scene.banner.box.get_family() if isinstance(m, Text)]
    assert len(lines) == 2 and lines[1].startswith("lr=0.3<lr_max=2/λ_max=0.333"), lines
    scene, _ = build_scene(FitScene, train(Config(lr=0.5, steps=30)))  # above lr_max: still ">"
    lines = [m.text for m in scene.banner.box.get_family() if isinstance(m, Text)]
    assert lines[1] == "lr=0.5>lr_max=2/λ_max=0.333", lines


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: [s.update(loss=0.0) for s in d["states"]],  # a loss below L*, drawn as 0
        lambda d: [s.update(loss=1e300) for s in d["states"]],  # "1.00e300" with no divergence
        lambda d: d["data"].update(y=[1e99] * len(d["data"]["y"])),  # other data, the old path
        lambda d: [s.update(w=-15.0, b=-10.0) for s in d["states"]],  # a path that never moves
        lambda d: d["states"][3].update(grad_b=d["states"][3]["grad_b"] * 1.001),
    ],
    ids=["loss-zero", "loss-huge", "other-data", "w-constant", "gradient"],
)
def test_states_that_do_not_belong_to_the_data_are_refused(runner, edit):
    """Each state's loss and gradient must be the data's MSE and its gradient at its (w, b). Before,
    all five hand-edited traces were drawn: a loss of 0 under L* = 0.011, losses of 1e300 that never
    diverged, a data panel of points at 1e99 beside the old path, a path standing still."""
    d = json.loads(train(Config(steps=5)).to_json())
    edit(d)
    Path("t.json").write_text(json.dumps(d))
    line = one_error_line(runner.invoke(cli, ["render", *FAST, "--trace", "t.json", "--out-dir", "out"]))
    assert "do not belong to this data" in line
    assert not Path("out").exists() or not any(Path("out").iterdir())


def test_toml_configs_a_careless_editor_writes(tmp_path, monkeypatch):
    """A UTF-8 byte-order mark (Notepad) is skipped (before: "malformed TOML ... line 1, column 1");
    ``batch_size = false`` is a wrong type (before: taken as full batch); a batch size of 1e300 is
    named in a short line (before: its 301 digits were printed)."""
    monkeypatch.chdir(tmp_path)
    Path("bom.toml").write_bytes(b"\xef\xbb\xbflr = 0.2\r\nsteps = 3\r\n")
    assert load_toml("bom.toml") == {"lr": 0.2, "steps": 3}
    Path("bool.toml").write_text("batch_size = false\n")
    with pytest.raises(ConfigError, match="batch_size must be a number"):
        load_toml("bool.toml")
    Path("huge.toml").write_text("batch_size = 1e300\n")
    with pytest.raises(ConfigError, match="batch_size") as err:
        Config.from_mapping(load_toml("huge.toml"))
    assert len(str(err.value)) < 120
