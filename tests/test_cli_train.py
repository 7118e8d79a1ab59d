"""`descent train` through Click's CliRunner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from descent.cli.main import cli
from descent.trainer import Trace


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """A CliRunner working in a fresh empty directory."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_defaults_print_the_lab_summary(runner):
    r = runner.invoke(cli, ["train"])
    assert r.exit_code == 0, r.output
    assert "sgd, lr 0.1, full batch, 60 points" in r.output
    assert "step 15" in r.output and "lr_max" in r.output and "no divergence" in r.output


def test_writes_a_valid_trace(runner):
    r = runner.invoke(cli, ["train", "--lr", "0.2", "--out", "t.json"])
    assert r.exit_code == 0, r.output
    t = Trace.load("t.json")
    assert t.config.lr == 0.2 and t.n_states == 16
    assert os.listdir(".") == ["t.json"]


def test_negative_numbers_and_every_key(runner):
    args = [
        "train",
        "--slope",
        "2",
        "--bias",
        "-0.5",
        "--noise",
        "0.2",
        "--x-min",
        "-2",
        "--x-max",
        "2",
        "--x-step",
        "0.25",
        "--seed",
        "3",
        "--w0",
        "-4",
        "--b0",
        "3",
        "--lr",
        "0.05",
        "--steps",
        "7",
        "--optimizer",
        "momentum",
        "--momentum",
        "0.5",
        "--batch-size",
        "4",
        "--out",
        "t.json",
    ]
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    c = json.loads(Path("t.json").read_text())["config"]
    assert c == {
        "slope": 2.0,
        "bias": -0.5,
        "noise": 0.2,
        "x_min": -2.0,
        "x_max": 2.0,
        "x_step": 0.25,
        "seed": 3,
        "w0": -4.0,
        "b0": 3.0,
        "lr": 0.05,
        "steps": 7,
        "optimizer": "momentum",
        "momentum": 0.5,
        "batch_size": 4,
    }


def test_toml_config_and_command_line_wins(runner):
    Path("c.toml").write_text("lr = 0.2\nsteps = 5\noptimizer = 'adam'\n")
    r = runner.invoke(cli, ["train", "--config", "c.toml", "--steps", "9", "--out", "t.json"])
    assert r.exit_code == 0, r.output
    c = Trace.load("t.json").config
    assert (c.lr, c.steps, c.optimizer) == (0.2, 9, "adam")


def test_diverging_run_is_reported(runner):
    r = runner.invoke(cli, ["train", "--lr", "0.5", "--steps", "500"])
    assert r.exit_code == 0
    assert "DIVERGED at step" in r.output and "lr_max" in r.output


BAD = [
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "nan"], "finite"),
    (["--w0", "inf"], "finite"),
    (["--b0", "-inf"], "finite"),
    (["--steps", "0"], "--steps"),
    (["--steps", "100001"], "--steps"),
    (["--x-step", "0"], "--x-step"),
    (["--x-max", "-3"], "x_max must be > x_min"),
    (["--x-min", "0", "--x-max", "0.1"], "at least 2 points"),
    (["--noise", "-1"], "--noise"),
    (["--optimizer", "lbfgs"], "--optimizer"),
    (["--batch-size", "61"], "batch_size"),
    (["--lr", "abc"], "not a number"),
    (["--bogus", "1"], "No such option"),
    (["--out", "missing-dir/t.json"], "cannot write"),
    (["--out", "."], "is a directory"),
]


@pytest.mark.parametrize("args, needle", BAD)
def test_bad_input_is_one_line_and_exit_2(runner, args, needle):
    r = runner.invoke(cli, ["train", *args])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("descent: error:"), r.output
    assert needle in lines[0]
    assert "Traceback" not in r.output
    assert os.listdir(".") == []
    assert not any(p.suffix in (".json", ".tmp") for p in Path(".").iterdir())


@pytest.mark.parametrize(
    "toml, needle",
    [
        ("lr = \n", "malformed TOML"),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("lr = 'fast'\n", "lr must be a number"),
        ("steps = 1.5\n", "whole number"),
        ("lr = nan\n", "finite"),
        ("lr = -2.0\n", "lr must be > 0"),
    ],
)
def test_bad_toml(runner, toml, needle):
    Path("c.toml").write_text(toml)
    r = runner.invoke(cli, ["train", "--config", "c.toml", "--out", "t.json"])
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1 and needle in r.output, r.output
    assert not Path("t.json").exists()


def test_missing_toml(runner):
    r = runner.invoke(cli, ["train", "--config", "nope.toml"])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_existing_trace_is_not_clobbered_by_a_failed_run(runner):
    assert runner.invoke(cli, ["train", "--out", "t.json"]).exit_code == 0
    before = Path("t.json").read_bytes()
    r = runner.invoke(cli, ["train", "--lr", "nan", "--out", "t.json"])
    assert r.exit_code == 2 and Path("t.json").read_bytes() == before
