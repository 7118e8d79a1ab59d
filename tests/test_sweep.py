"""descent batch --sweep: any key, the cartesian product, names from the keys that vary, comparisons along any key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from descent.batch import (
    BatchOptions,
    _digest,
    load_manifest,
    parse_sweep,
    plan_batch,
    plan_variants,
)
from descent.cli.main import cli
from descent.trainer import Config, ConfigError, train

QUICK = ["-q", "l", "--fps", "10", "--duration", "1", "--quiet"]


@pytest.fixture(scope="module")
def opt_sweep(tmp_path_factory):
    """optimizer × lr, two workers: 4 variants and one comparison per lr."""
    out = tmp_path_factory.mktemp("optsweep") / "out"
    args = ["batch", "--sweep", "optimizer=sgd,adam", "--lr", "0.1", "--lr", "0.2", "--steps", "4", "--jobs", "2"]
    r = CliRunner().invoke(cli, [*args, "--out-dir", str(out), *QUICK])
    assert r.exit_code == 0, r.output
    return out, r.output, args


def test_sweep_over_optimizer_and_lr(opt_sweep):
    out, output, _ = opt_sweep
    names = [
        "fit_optimizer-sgd_lr0.1",
        "fit_optimizer-sgd_lr0.2",
        "fit_optimizer-adam_lr0.1",
        "fit_optimizer-adam_lr0.2",
    ]
    for stem in names:
        assert (out / f"{stem}.mp4").is_file()
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["variants"]) == set(names)
    assert m["sweep_keys"] == ["optimizer", "lr"]
    adam = m["variants"]["fit_optimizer-adam_lr0.2"]
    assert adam["sweep"] == {"optimizer": "adam", "lr": 0.2}
    assert adam["config"]["optimizer"] == "adam" and adam["config"]["lr"] == 0.2 and adam["config"]["steps"] == 4
    # the runs really differ: adam and sgd from the same start end at different losses
    sgd = m["variants"]["fit_optimizer-sgd_lr0.2"]
    assert adam["final_loss"] != sgd["final_loss"]
    assert adam["final_loss"] == pytest.approx(float(train(Config(optimizer="adam", lr=0.2, steps=4)).loss[-1]))
    assert "batch of 4 variants (optimizer × lr)" in output


def test_comparison_by_optimizer_per_lr(opt_sweep):
    out, _, _ = opt_sweep
    m = json.loads((out / "manifest.json").read_text())
    compares = {c["name"]: c for c in m["compares"]}
    assert set(compares) == {"compare_optimizers_lr0.1", "compare_optimizers_lr0.2"}
    c = compares["compare_optimizers_lr0.2"]
    assert c["by"] == "optimizer" and c["group"] == {"lr": 0.2} and c["labels"] == ["sgd", "adam"]
    assert c["members"] == ["fit_optimizer-sgd_lr0.2", "fit_optimizer-adam_lr0.2"]
    for kind in ("mp4", "poster", "vtt"):
        assert (out / c["files"][kind]).is_file()
    assert (out / c["loss_plot"]).is_file()
    # older readers still find one comparison under "compare"
    assert m["compare"]["name"] in compares


def test_rerun_of_a_sweep_renders_nothing_and_old_manifests_resume(opt_sweep):
    out, _, args = opt_sweep
    # a manifest written before "compares": its one comparison is read from "compare"
    m = json.loads((out / "manifest.json").read_text())
    first = m["compares"][0]
    del m["compares"], m["sweep_keys"]
    m["compare"] = first
    (out / "manifest.json").write_text(json.dumps(m))
    manifest, problem = load_manifest(out)
    assert problem is None and [c["name"] for c in manifest["compares"]] == [first["name"]]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = CliRunner().invoke(cli, [*args, "--out-dir", str(out), *QUICK])
    assert r.exit_code == 0, r.output
    assert "4 unchanged variant(s)" in r.output
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    changed = {n for n in after if after[n] != before.get(n)}
    # the comparison the old manifest listed is not rendered again; the other one was never recorded
    assert first["files"]["mp4"] not in changed
    assert not any(n.startswith("fit_") for n in changed)


def test_compare_by_lr_groups_by_optimizer(tmp_path):
    out = tmp_path / "o"
    r = CliRunner().invoke(
        cli,
        [
            "batch",
            "--sweep",
            "optimizer=sgd,momentum",
            "--sweep",
            "lr=0.05,0.1",
            "--compare-by",
            "lr",
            "--steps",
            "3",
            "--jobs",
            "2",
            "--out-dir",
            str(out),
            *QUICK,
        ],
    )
    assert r.exit_code == 0, r.output
    m = json.loads((out / "manifest.json").read_text())
    compares = {c["name"]: c for c in m["compares"]}
    assert set(compares) == {"compare_lrs_optimizer-sgd", "compare_lrs_optimizer-momentum"}
    assert compares["compare_lrs_optimizer-momentum"]["labels"] == ["lr 0.05", "lr 0.1"]


def test_legend_labels_come_from_the_compare_by_key(lab_trace):
    from descent.scenes.compare import CompareScene, run_label

    from .conftest import build_scene

    traces = [train(Config(optimizer=o, steps=3)) for o in ("sgd", "momentum", "adam")]
    scene, _ = build_scene(CompareScene, None, traces=traces, compare_by="optimizer")
    # Manim's Text keeps the characters it draws in .text, without the spaces
    assert [row[1].text for row in scene.legend.rows] == ["sgd", "momentum0.9", "adam"]
    assert scene.header.subtitle().startswith("lr = 0.1 ·")  # what the runs share, not a list of rates
    scene_lr, _ = build_scene(CompareScene, None, traces=traces[:1])
    assert [row[1].text for row in scene_lr.legend.rows] == ["lr0.1"]
    assert run_label(Config(batch_size=8), "batch_size") == "batch 8"
    assert run_label(Config(), "batch_size") == "full batch"
    assert run_label(Config(lr=0.1), "lr") == "lr 0.1"
    assert run_label(Config(optimizer="nesterov", momentum=0.5), "optimizer") == "nesterov 0.5"
    assert run_label(Config(momentum=0.95), "momentum") == "momentum 0.95"


# -- planning (no rendering) -------------------------------------------------------------------
def test_lr_only_names_and_digests_are_unchanged():
    """Old manifests resume: the lr-only batch names and hashes its variants as before."""
    from descent._version import versions

    opts = BatchOptions(base=Config(steps=12))
    vs = plan_variants([0.1, 0.2], opts)
    assert [v.name for v in vs] == ["fit_lr0.1", "fit_lr0.2"]
    old_digest = _digest(
        {"config": Config(steps=12, lr=0.2).to_dict(), "render": opts.render_dict(), "versions": versions()}
    )
    assert vs[1].digest == old_digest
    plan = plan_batch([0.1, 0.2], opts)
    assert [c.name for c in plan.compares] == ["compare_lrs"] and plan.sweep_keys == ["lr"]
    # --sweep lr=… is the same batch as --lr …
    same = plan_batch(None, opts, {"lr": [0.1, 0.2]})
    assert [(v.name, v.digest) for v in same.variants] == [(v.name, v.digest) for v in plan.variants]
    assert [c.name for c in same.compares] == ["compare_lrs"] and same.sweep_keys == ["lr"]


def test_sweep_of_render_keys_gives_each_variant_its_own_render_options():
    vs = plan_variants(None, BatchOptions(), {"theme": ["dark", "light"], "quality": ["l", "m"]})
    assert [v.name for v in vs] == [
        "fit_theme-dark_quality-l",
        "fit_theme-dark_quality-m",
        "fit_theme-light_quality-l",
        "fit_theme-light_quality-m",
    ]
    jobs = [v.job(Path("o"))["render"] for v in vs]
    assert [(j["theme"], j["quality"]) for j in jobs] == [("dark", "l"), ("dark", "m"), ("light", "l"), ("light", "m")]
    assert len({v.digest for v in vs}) == 4
    # a swept scene is the name's stem
    vs = plan_variants([0.1], BatchOptions(), {"scene": ["fit", "surface"]})
    assert [v.name for v in vs] == ["fit_lr0.1", "surface_lr0.1"] and vs[1].options.scene == "surface"
    # theme only: nothing to compare along
    assert plan_batch(None, BatchOptions(), {"theme": ["dark", "light"]}).compares == []


def test_values_are_typed_by_their_key():
    assert parse_sweep("batch_size=8,full") == ("batch_size", [8, None])
    assert parse_sweep("w0=-15,-5.5") == ("w0", [-15.0, -5.5])
    assert parse_sweep("steps=10,20") == ("steps", [10, 20])
    vs = plan_variants(None, BatchOptions(), {"batch_size": [8, None], "momentum": [0.5]})
    assert [v.name for v in vs] == ["fit_batch_size-8_momentum-0.5", "fit_batch_size-full_momentum-0.5"]
    assert vs[0].config.batch_size == 8 and vs[1].config.batch_size is None and vs[0].config.momentum == 0.5


def test_one_comparison_per_group_and_names_are_unique():
    plan = plan_batch(
        [0.1, 0.2], BatchOptions(), {"optimizer": ["sgd", "adam"], "theme": ["dark", "light"]}, compare_by="optimizer"
    )
    assert len(plan.variants) == 8
    assert sorted(c.name for c in plan.compares) == sorted(
        f"compare_optimizers_theme-{t}_lr{lr}" for t in ("dark", "light") for lr in (0.1, 0.2)
    )
    for c in plan.compares:
        assert [m.sweep["optimizer"] for m in c.members] == ["sgd", "adam"]
        assert len({m.options.theme for m in c.members}) == 1 and c.options.theme == c.group["theme"]
    assert len({v.name for v in plan.variants} | {c.name for c in plan.compares}) == 12


@pytest.mark.parametrize(
    "sweep, by, needle",
    [
        ({"lrr": [0.1]}, None, "unknown key 'lrr'"),
        ({"lr": [-1.0]}, None, "lr must be > 0"),
        ({"optimizer": ["rmsprop"]}, None, "unknown optimizer"),
        ({"theme": ["pink"]}, None, "theme must be one of"),
        ({"noise": [0.1, 0.5]}, "noise", "cannot compare by noise"),
        ({"optimizer": ["sgd"], "theme": ["dark", "light"]}, "theme", "cannot compare by theme"),
        ({"optimizer": ["sgd"]}, "momentum", "momentum is not swept"),
        ({"lr": []}, None, "non-empty list"),
    ],
)
def test_bad_sweeps_are_config_errors(sweep, by, needle):
    with pytest.raises(ConfigError, match=needle):
        plan_batch(None, BatchOptions(), sweep, compare_by=by)


_MILLION = {
    "lr": [round(0.01 * i, 2) for i in range(1, 33)],
    "momentum": [i / 40 for i in range(32)],
    "seed": list(range(32)),
    "w0": [float(i) for i in range(32)],
}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--sweep", "foo=1,2"], "unknown key 'foo'"),
        (["--sweep", "lr"], "KEY=V1,V2"),
        (["--sweep", "lr=abc"], "--sweep lr: 'abc' is not a number"),
        (["--sweep", "optimizer=sgd,rmsprop"], "unknown optimizer"),
        (["--sweep", "momentum=0.5,1.5"], "momentum must be in [0, 1)"),
        (["--sweep", "batch_size=0.5"], "batch_size must be a whole number"),
        (["--sweep", "quality=z"], "quality must be one of"),
        (["--sweep", "lr=0.1,0.2", "--lr", "0.3"], "--sweep lr and --lr"),
        (["--sweep", "lr=0.1", "--sweep", "lr=0.2"], "given twice"),
        (["--sweep", "noise=0.1,0.2", "--compare-by", "noise"], "cannot compare by noise"),
        (["--sweep", "optimizer=sgd,adam", "--compare-by", "lr"], "lr is not swept"),
        (["--sweep", "optimizer=sgd,adam", "--scheduler", "local:2", "--jobs", "2"], "--jobs"),
        (["--sweep", "optimizer=sgd,adam", "--scheduler", "udp://x:1"], "--scheduler takes"),
        (["--sweep", "optimizer=sgd,adam", "--scheduler", "local:\uff12"], "--scheduler local:N"),
        (["--sweep", "optimizer=sgd,adam", "--scheduler", "tcp://localhost:\uff18\uff17"], "tcp://HOST:PORT"),
        # a product of a million variants is refused before it is planned
        (
            [f"--sweep={k}={','.join(str(v) for v in vals)}" for k, vals in _MILLION.items()],
            "1048576 variants, more than the 1024",
        ),
    ],
)
def test_bad_sweep_options_are_one_line_exit_2(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["batch", *args])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error:") and needle in lines[0], r.output
    assert os.listdir(".") == []
