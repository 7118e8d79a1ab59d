"""The wheel: what it holds, and that the installed copy works on its own, away from the checkout.

The wheel is built from a copy of the working tree (a build inside the checkout leaves build/ behind, and a stale
build/lib slips its files into the next wheel), then installed into a fresh virtual environment that borrows the
project venv's dependencies (torch, Manim) through a ``.pth`` file. A ``.pth`` line that names a folder only adds
it to sys.path; the ``.pth`` files inside it are not run, so the checkout's editable-install finder stays out. Every
command runs from an empty folder: no manim.cfg, no checkout on sys.path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.util import find_spec
from pathlib import Path

import av
import pytest

from tests.test_doctests import MODULES

ROOT = Path(__file__).resolve().parents[1]

# One xdist worker builds the wheel and the venv once for all of this file (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("wheel")

# The import packages of descent's dependencies: the folders they live in are lent to the test venv.
DEPENDENCIES = ("torch", "manim", "numpy", "click", "PIL", "av", "jinja2", "markupsafe")
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "media", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")

QUICK_SCENE = """\
import sys

import descent
from descent.scenes.fit import FitScene

print("descent from", descent.__file__, file=sys.stderr)


class Quick(FitScene):
    descent_seconds = 1.0
    hold_seconds = 0.3
    intro_seconds = 0.3
"""


def clean_env() -> dict[str, str]:
    """This process's environment without anything that points Python or the scenes elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DESCENT_", "PIP_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def run(cmd: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, tmp / "src", ignore=NOT_SOURCE, symlinks=True)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    run([*pip, "-w", tmp / "dist", tmp / "src"], cwd=tmp)
    (built,) = (tmp / "dist").glob("descent-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel (not editable) and, through a .pth line, the project venv's dependencies."""
    tmp = tmp_path_factory.mktemp("venv")
    env = tmp / "env"
    run([sys.executable, "-m", "venv", "--without-pip", env], cwd=tmp)
    python = env / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel], cwd=tmp)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp).stdout.strip()
    deps = dict.fromkeys(str(Path(find_spec(name).origin).parents[1]) for name in DEPENDENCIES)
    (Path(site) / "descent_test_deps.pth").write_text("".join(f"{d}\n" for d in deps), encoding="utf-8")
    return env


@pytest.fixture
def empty(tmp_path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_the_wheel_holds_the_package_and_its_data_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    dist_info = [t for t in top if re.fullmatch(r"descent-[^-]+\.dist-info", t)]
    assert len(dist_info) == 1 and top == {"descent", *dist_info}, sorted(top)
    assert "descent/scenes/lab_trace.json" in names
    assert "descent/cli/bench.py" not in names
    templates = {n for n in names if re.fullmatch(r"descent/publish/templates/[a-z_]+\.html", n)}
    assert {f"descent/publish/templates/{t}.html" for t in ("base", "presenter", "transcript")} <= templates
    assert not [
        n for n in names if n.startswith("descent/") and not n.endswith((".py", ".json")) and n not in templates
    ]
    modules = {n.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for n in names if n.endswith(".py")}
    # test_doctests walks every one of them (it can only leave out __main__, whose import runs the CLI)
    assert modules - {"descent.__main__"} == set(MODULES)


def test_the_installed_copy_is_the_one_imported(venv, empty):
    probe = """if True:
        import json, sys
        import descent, descent.cli, descent.scenes, descent.trainer
        from descent.scenes.base import DEFAULT_TRACE, load_scene_trace
        print(json.dumps({
            "files": [m.__file__ for m in (descent, descent.cli, descent.scenes, descent.trainer)],
            "default_trace": str(DEFAULT_TRACE),
            "states": load_scene_trace().n_states,
            "finders": [repr(f) for f in sys.meta_path],
            "modules": sorted(sys.modules),
        }))
    """
    found = json.loads(run([venv / "bin" / "python", "-c", probe], cwd=empty).stdout)
    site = venv.resolve() / "lib"
    for file in [*found["files"], found["default_trace"]]:
        assert Path(file).resolve().is_relative_to(site), file
    assert found["default_trace"].endswith("descent/scenes/lab_trace.json")
    assert found["states"] == 16  # the lab: 15 steps
    assert not [f for f in found["finders"] if "editable" in f.lower()]
    assert not [m for m in found["modules"] if "editable" in m.lower()]


def test_the_console_script_renders(venv, empty):
    descent = venv / "bin" / "descent"
    assert descent.read_text().splitlines()[0] == f"#!{venv / 'bin' / 'python'}"
    out = empty / "out"
    run([descent, "render", "-q", "l", "--fps", "10", "--duration", "1", "--quiet", "--out-dir", out], cwd=empty)
    files = sorted(p.name for p in out.iterdir() if ".transcript." not in p.name)
    assert [Path(f).suffix for f in files] == [".json", ".mp4", ".png"], files
    assert len({Path(f).stem for f in files}) == 1, files
    stem = Path(files[0]).stem
    assert {p.name for p in out.iterdir()} - set(files) == {f"{stem}.transcript.html", f"{stem}.transcript.md"}
    sidecar = json.loads((out / files[0]).read_text(encoding="utf-8"))
    assert sidecar["schema"] == "descent.clip/1" and sidecar["trace"]["schema"] == "descent.trace/1"
    assert (out / files[2]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with av.open(str(out / files[1])) as clip:
        stream = clip.streams.video[0]
        assert (stream.width, stream.height, stream.average_rate) == (854, 480, 10)
        assert sum(1 for _ in clip.decode(stream)) == sidecar["video"]["frames"] > 10


def test_plain_manim_renders_a_fitscene_subclass(venv, empty):
    (empty / "quick.py").write_text(QUICK_SCENE, encoding="utf-8")
    media = empty / "media"
    manim = [venv / "bin" / "python", "-m", "manim", "render", "-ql", "--fps", "10", "--disable_caching", "--silent"]
    proc = run([*manim, "--media_dir", media, "quick.py", "Quick"], cwd=empty)
    imported = re.search(r"descent from (\S+)", proc.stderr)
    assert imported and Path(imported[1]).resolve().is_relative_to(venv.resolve()), proc.stderr
    (video,) = media.glob("videos/**/Quick.mp4")
    with av.open(str(video)) as clip:
        stream = clip.streams.video[0]
        assert (stream.width, stream.height, stream.average_rate) == (854, 480, 10)
        # intro 0.3 s + descent 1 s + hold 0.3 s at 10 fps
        assert 14 <= sum(1 for _ in clip.decode(stream)) <= 18


def test_the_installed_copy_writes_the_lesson_pages_from_its_templates(venv, empty):
    probe = """if True:
        import json
        from descent.publish.presenter import presenter_page
        from descent.publish.transcript import transcript_html
        lesson = {"title": "T", "lang": "en", "video": {"mp4": "t.mp4"}, "lines": [],
                  "chapters": [{"number": 1, "key": "a", "title": "A", "start": 0.0, "end": 1.0}]}
        print(json.dumps([presenter_page(lesson), transcript_html(lesson, presenter="t.html")]))
    """
    presenter, transcript = json.loads(run([venv / "bin" / "python", "-c", probe], cwd=empty).stdout)
    assert '<source src="t.mp4" type="video/mp4">' in presenter and 'id="lesson-data"' in presenter
    assert '<a href="t.html">' in transcript and "<h2" in transcript
