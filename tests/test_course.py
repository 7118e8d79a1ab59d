"""descent build COURSE.toml: named clips into one folder, one manifest, one gallery, resumable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from descent.cli.main import cli
from descent.course import load_course, plan_course
from descent.trainer import ConfigError

ROOT = Path(__file__).resolve().parents[1]

COURSE = """
title = "A tiny course"

[defaults]
quality = "l"
fps = 10
descent_seconds = 1
steps = 3

[[clip]]
name = "lab"
lr = 0.1

[[clip]]
name = "fast"
lr = 0.2
theme = "light"

[[clip]]
name = "optimizers"
scene = "compare"
sweep = { optimizer = ["sgd", "momentum", "adam"] }
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course")
    course = tmp / "course.toml"
    course.write_text(COURSE)
    out = tmp / "out"
    r = CliRunner().invoke(cli, ["build", str(course), "--out-dir", str(out), "--jobs", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    return course, out, r.output


def test_course_renders_every_named_clip(built):
    _, out, output = built
    for stem in ("lab", "fast", "optimizers", "optimizers_optimizer-sgd", "optimizers_optimizer-adam"):
        assert (out / f"{stem}.mp4").is_file(), stem
        assert (out / f"{stem}.png").is_file(), stem
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["variants"]) == {
        "lab",
        "fast",
        "optimizers_optimizer-sgd",
        "optimizers_optimizer-momentum",
        "optimizers_optimizer-adam",
    }
    assert m["variants"]["fast"]["config"]["lr"] == 0.2 and m["variants"]["fast"]["render"]["theme"] == "light"
    assert m["variants"]["lab"]["render"]["theme"] == "dark" and m["variants"]["lab"]["config"]["steps"] == 3
    assert m["variants"]["lab"]["fps"] == 10
    [c] = m["compares"]
    assert c["name"] == "optimizers" and c["by"] == "optimizer"
    assert c["labels"] == ["sgd", "momentum 0.9", "adam"]
    assert (out / "index.html").is_file()
    assert "course course.toml: 5 clip(s), 1 comparison(s)" in output


def test_course_rerun_renders_nothing(built):
    course, out, _ = built
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = CliRunner().invoke(cli, ["build", str(course), "--out-dir", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "5 unchanged variant(s)" in r.output
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert {n for n in after if after[n] != before.get(n)} <= {"index.html", "manifest.json"}


def test_the_lab_example_plans():
    plan = plan_course(load_course(ROOT / "examples" / "lab.toml"))
    names = [v.name for v in plan.variants]
    assert {"lab", "fast", "lab_light"} <= set(names)
    by_name = {v.name: v for v in plan.variants}
    assert by_name["lab"].config.lr == 0.1 and by_name["lab"].config.steps == 15
    assert by_name["fast"].config.lr == 0.2 and by_name["lab_light"].options.theme == "light"
    assert all(v.options.quality == "m" for v in plan.variants)
    assert {c.name: c.by for c in plan.compares} == {"lrs": "lr", "optimizers": "optimizer"}


_LRS = ", ".join(f"{0.01 * i:.2f}" for i in range(1, 65))


@pytest.mark.parametrize(
    "clip, needle",
    [
        ('name = "a"\nlrr = 0.1', "clip 'a': unknown key 'lrr'"),
        ('name = "a"\nlr = -1', "clip 'a': lr must be > 0"),
        ('name = "a"\nlr = "fast"', "clip 'a': lr must be a number"),
        ('name = "a"\noptimizer = "rmsprop"', "clip 'a': unknown optimizer"),
        ('name = "a"\ntheme = "pink"', "clip 'a': theme must be one of"),
        ('name = "a"\nquality = "z"', "clip 'a': quality must be one of"),
        ('name = "a"\nfps = 0', "clip 'a': fps must be a number"),
        ('name = "a"\nsweep = { lr = [0.1, -2] }', "clip 'a': sweep: lr must be > 0"),
        ('name = "a"\nsweep = { colour = ["red"] }', "clip 'a': sweep: unknown key 'colour'"),
        ('name = "a"\nscene = "compare"', "clip 'a': a compare clip needs a sweep"),
        ('name = "a"\nscene = "compare"\nsweep = { noise = [0.1, 0.2] }', "clip 'a': no swept key to compare"),
        ('name = "a/b"', "clip 'a/b': name must be a plain file stem"),
        ("lr = 0.1", "clip 1 needs a name"),
        # a clip's files may not be the folder's manifest, nor another clip's files (a comparison's loss plot)
        ('name = "manifest"', "clip 'manifest' and the manifest would both write manifest.json"),
        ('name = "Manifest"', "clip 'Manifest' and the manifest would both write Manifest.json"),
        (
            'name = "a_loss"\n[[clip]]\nname = "a"\nscene = "compare"\nsweep = { lr = [0.1, 0.2] }',
            "clip 'a' and clip 'a_loss' would both write a_loss.png",
        ),
        # every clip's sweep counts towards one cap on the course
        (
            "\n[[clip]]\n".join(f'name = "c{i}"\nsweep = {{ lr = [{_LRS}] }}' for i in range(17)),
            "clip 'c16': with the clips before it: 1088 variants, more than the 1024",
        ),
    ],
)
def test_bad_course_is_one_line_exit_2_naming_clip_and_key(tmp_path, monkeypatch, clip, needle):
    monkeypatch.chdir(tmp_path)
    Path("c.toml").write_text(f"[defaults]\nsteps = 3\n\n[[clip]]\n{clip}\n")
    r = CliRunner().invoke(cli, ["build", "c.toml", "--out-dir", "out"])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error:") and needle in lines[0], r.output
    assert sorted(os.listdir(".")) == ["c.toml"]


def test_bad_course_files(tmp_path):
    bad = tmp_path / "c.toml"
    for text, needle in [
        ("[[clip]]\nname = 'a'\n[[clip]]\nname = 'a'\n", "another clip has this name"),
        ("[defaults]\nfoo = 1\n[[clip]]\nname = 'a'\n", "[defaults]: unknown key 'foo'"),
        ("extra = 1\n[[clip]]\nname = 'a'\n", "unknown key 'extra'"),
        ("[defaults]\nlr = 0.1\n", "none found"),
        ("[[clip]\n", "malformed TOML"),
    ]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
            load_course(bad)
    with pytest.raises(ConfigError, match="course file"):
        load_course(tmp_path / "missing.toml")


def test_a_course_over_a_users_file_of_a_clips_name_is_refused(tmp_path):
    """A course clip named "lab" would write lab.mp4: the user's own lab.mp4 in the folder is not replaced;
    the build says so in one line, before rendering anything, and the folder stays as it was."""
    course = tmp_path / "c.toml"
    course.write_text('[defaults]\nquality = "l"\nfps = 10\ndescent_seconds = 1\nsteps = 3\n\n[[clip]]\nname = "lab"\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "lab.mp4").write_bytes(b"the user's own video")
    (out / ".mine").write_text("hidden\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = CliRunner().invoke(cli, ["build", str(course), "--out-dir", str(out), "--quiet"])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and repr(str(out / "lab.mp4")) in lines[0] and "move the file" in lines[0], r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
