"""The trainer against independent computations (micrograd-style differential tests)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from descent.trainer import (
    SCHEMA,
    Config,
    ConfigError,
    Moments,
    Trace,
    TraceError,
    loss_at,
    loss_grid,
    make_data,
    train,
    view_window,
)


def numpy_data(c: Config):
    x, y = make_data(c)
    return x.numpy(), y.numpy()


def test_lab_data_shape_and_determinism():
    c = Config()
    x, y = numpy_data(c)
    assert x.size == 60 and x[0] == -3.0 and abs(x[-1] - 2.9) < 1e-12
    # the residual around the true line is the noise: small, centred
    r = y - (c.slope * x + c.bias)
    assert 0.05 < r.std() < 0.15
    x2, y2 = numpy_data(c)
    assert np.array_equal(y, y2)
    assert not np.array_equal(y, numpy_data(Config(seed=1))[1])


def test_gradients_match_closed_form():
    trace = train(Config(steps=20))
    x, y = trace.x, trace.y
    for k in range(trace.n_states):
        w, b = trace.w[k], trace.b[k]
        r = w * x + b - y
        assert trace.loss[k] == pytest.approx(np.mean(r * r), rel=1e-12)
        assert trace.grad_w[k] == pytest.approx(2 * np.mean(r * x), rel=1e-10, abs=1e-12)
        assert trace.grad_b[k] == pytest.approx(2 * np.mean(r), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("lr", [0.1, 0.2, 0.3])
def test_sgd_equals_numpy_loop(lr):
    c = Config(lr=lr, steps=25)
    trace = train(c)
    x, y = numpy_data(c)
    w, b = c.w0, c.b0
    for k in range(c.steps + 1):
        assert trace.w[k] == pytest.approx(w, rel=1e-12, abs=1e-12)
        assert trace.b[k] == pytest.approx(b, rel=1e-12, abs=1e-12)
        r = w * x + b - y
        w, b = w - lr * 2 * np.mean(r * x), b - lr * 2 * np.mean(r)


def _grad(w, b, x, y):
    r = w * x + b - y
    return np.array([2 * np.mean(r * x), 2 * np.mean(r)])


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_documented_rule(nesterov):
    # torch.optim.SGD docs: b_t = mu*b_{t-1} + g_t (b_1 = g_1); nesterov: g + mu*b_t; theta -= lr * that
    c = Config(lr=0.05, steps=30, optimizer="nesterov" if nesterov else "momentum", momentum=0.8)
    trace = train(c)
    x, y = numpy_data(c)
    p = np.array([c.w0, c.b0])
    buf = None
    for k in range(c.steps + 1):
        assert trace.w[k] == pytest.approx(p[0], rel=1e-10, abs=1e-10)
        assert trace.b[k] == pytest.approx(p[1], rel=1e-10, abs=1e-10)
        g = _grad(p[0], p[1], x, y)
        buf = g.copy() if buf is None else c.momentum * buf + g
        p = p - c.lr * ((g + c.momentum * buf) if nesterov else buf)


def test_adam_matches_documented_rule():
    c = Config(lr=0.5, steps=40, optimizer="adam")
    trace = train(c)
    x, y = numpy_data(c)
    b1, b2, eps = 0.9, 0.999, 1e-8
    p = np.array([c.w0, c.b0])
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, c.steps + 2):
        assert trace.w[t - 1] == pytest.approx(p[0], rel=1e-9, abs=1e-9)
        assert trace.b[t - 1] == pytest.approx(p[1], rel=1e-9, abs=1e-9)
        g = _grad(p[0], p[1], x, y)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1**t)
        vhat = v / (1 - b2**t)
        p = p - c.lr * mhat / (np.sqrt(vhat) + eps)


def test_converges_to_lstsq():
    trace = train(Config(lr=0.05, steps=3000))
    A = np.stack([trace.x, np.ones_like(trace.x)], axis=1)
    (w_ls, b_ls), *_ = np.linalg.lstsq(A, trace.y, rcond=None)
    assert trace.w[-1] == pytest.approx(w_ls, abs=1e-9)
    assert trace.b[-1] == pytest.approx(b_ls, abs=1e-9)
    w_opt, b_opt, l_opt = trace.optimum
    assert (w_opt, b_opt) == pytest.approx((w_ls, b_ls), abs=1e-12)
    assert l_opt == pytest.approx(np.mean((A @ [w_ls, b_ls] - trace.y) ** 2), rel=1e-9)


def test_hessian_and_lr_max_against_torch():
    c = Config()
    x, y = make_data(c)
    H = torch.autograd.functional.hessian(
        lambda p: torch.mean((p[0] * x + p[1] - y) ** 2), torch.tensor([0.3, -0.2], dtype=torch.float64)
    ).numpy()
    trace = train(c)
    assert np.allclose(sorted(np.linalg.eigvalsh(H)), trace.hessian_eigenvalues, rtol=1e-12)
    assert trace.lr_max == pytest.approx(2 / np.linalg.eigvalsh(H).max(), rel=1e-12)


def test_lr_max_is_the_divergence_threshold():
    lr_max = train(Config()).lr_max
    below = train(Config(lr=lr_max * 0.98, steps=2000))
    assert not below.diverged
    assert below.loss[-1] == pytest.approx(below.optimum[2], rel=1e-6)
    above = train(Config(lr=lr_max * 1.02, steps=5000))
    assert above.diverged
    k = above.diverged_at
    assert above.n_states == k and above.last_k == k - 1
    assert np.all(np.isfinite(above.loss)) and above.loss.max() <= 1e12
    # the run really was blowing up
    assert above.loss[-1] > 100 * above.loss[0]


def test_minibatch_records_full_and_batch_gradients():
    c = Config(batch_size=10, lr=0.05, steps=30)
    trace = train(c)
    assert trace.batch_grad_w is not None and trace.batch_grad_w.size == c.steps
    # full-data quantities still lie on the loss surface
    assert np.allclose(trace.loss, loss_at(trace.moments, trace.w, trace.b), rtol=1e-10)
    # each update used the batch gradient
    step = np.stack([np.diff(trace.w), np.diff(trace.b)])
    assert np.allclose(step, -c.lr * np.stack([trace.batch_grad_w, trace.batch_grad_b]), rtol=1e-10, atol=1e-12)
    assert not np.allclose(trace.batch_grad_w, trace.grad_w[:-1])
    assert train(c).to_json() == trace.to_json()


def test_loss_grid_equals_brute_force_loop():
    trace = train(Config())
    ws = np.linspace(-20, 20, 17)
    bs = np.linspace(-15, 10, 13)
    grid = loss_grid(trace.moments, ws, bs)
    assert grid.shape == (bs.size, ws.size)
    for j, b in enumerate(bs):
        for i, w in enumerate(ws):
            assert grid[j, i] == pytest.approx(np.mean((w * trace.x + b - trace.y) ** 2), rel=1e-11)


def test_states_lie_on_the_surface():
    trace = train(Config())
    assert np.allclose(loss_at(trace.moments, trace.w, trace.b), trace.loss, rtol=1e-11)


def test_view_window_holds_start_optimum_and_path():
    trace = train(Config())
    win = trace.window
    assert win.contains(trace.w[0], trace.b[0]) and win.contains(*trace.optimum[:2])
    assert all(win.contains(w, b) for w, b in zip(trace.w, trace.b, strict=False))
    # a diverging run keeps a sane window
    d = train(Config(lr=0.5, steps=100))
    assert d.diverged
    assert d.window.w[1] - d.window.w[0] < 200 and d.window.b[1] - d.window.b[0] < 200
    # a start on the optimum still gets a real window
    w = view_window((1.0, -1.0), (1.0, -1.0))
    assert w.w[1] > w.w[0] and w.b[1] > w.b[0]


def test_same_config_same_bytes(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    train(Config(lr=0.2)).save(a)
    train(Config(lr=0.2)).save(b)
    assert a.read_bytes() == b.read_bytes()


def test_trace_round_trip_and_schema(tmp_path):
    trace = train(Config(lr=0.2))
    p = trace.save(tmp_path / "t.json")
    d = json.loads(p.read_text())
    assert d["schema"] == SCHEMA
    assert set(d["config"]) == set(Config.keys())
    assert len(d["states"]) == 16 and d["states"][3]["k"] == 3
    assert set(d["states"][0]) >= {"k", "w", "b", "loss", "grad_w", "grad_b"}
    assert d["diverged_at"] is None
    assert set(d["analysis"]) >= {"optimum", "hessian_eigenvalues", "lr_max"}
    back = Trace.load(p)
    assert back.to_json() == trace.to_json()
    assert list(tmp_path.iterdir()) == [p]  # no temporary file left behind


def _doc():
    return json.loads(train(Config(steps=3)).to_json())


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(schema="descent.trace/2"), "unsupported schema version"),
        (lambda d: d.update(schema="other"), "not a descent trace"),
        (lambda d: d.pop("states"), "missing key 'states'"),
        (lambda d: d["states"][1].update(loss="x"), "states[1].loss"),
        (lambda d: d["states"][2].pop("grad_b"), "states[2] lacks 'grad_b'"),
        (lambda d: d["states"][2].update(k=5), "states[2].k"),
        (lambda d: d["data"]["y"].pop(), "differ in length"),
        (lambda d: d["config"].update(lr=-1), "lr must be > 0"),
        (lambda d: d["config"].update(colour="red"), "unknown key 'colour'"),
        (lambda d: d["states"].pop(), "expected 4"),
        (lambda d: d.update(diverged_at=7), "diverged_at is 7"),
    ],
)
def test_malformed_traces_are_named(mutate, message):
    d = _doc()
    mutate(d)
    with pytest.raises(TraceError, match=None) as err:
        Trace.from_dict(d)
    assert message in str(err.value)


def test_nan_in_file_is_refused(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(train(Config(steps=2)).to_json().replace('"loss": 835', '"loss": NaN, "x": 835', 1))
    with pytest.raises(TraceError, match="NaN"):
        Trace.load(p)
    with pytest.raises(TraceError, match="not valid JSON"):
        Trace.from_json("{")


@pytest.mark.parametrize(
    "changes",
    [
        dict(lr=0.0),
        dict(lr=math.nan),
        dict(w0=math.inf),
        dict(steps=0),
        dict(steps=100001),
        dict(x_step=0.0),
        dict(x_max=-3.0),
        dict(x_max=-2.95),
        dict(noise=-0.1),
        dict(optimizer="lbfgs"),
        dict(optimizer="nesterov", momentum=0.0),
        dict(batch_size=61),
    ],
)
def test_bad_config_is_refused(changes):
    with pytest.raises(ConfigError):
        Config(**changes).validate()


def test_no_non_finite_value_ever_leaves_the_trainer():
    for cfg in (Config(lr=5.0, steps=1000), Config(optimizer="momentum", lr=1.0, steps=2000)):
        t = train(cfg)
        assert t.diverged
        for arr in (t.w, t.b, t.loss, t.grad_w, t.grad_b):
            assert np.all(np.isfinite(arr))
        json.loads(t.to_json())  # allow_nan=False would have raised


def test_moments_example():
    m = Moments.from_data(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
    assert m.optimum() == pytest.approx((2.0, 1.0, 0.0))


def test_a_perfect_fit_has_zero_minimum():
    t = train(Config(noise=0.0))
    assert t.optimum[2] == 0.0
    t2 = train(Config(x_min=0.0, x_max=0.2))  # two points: a line through both
    assert t2.x.size == 2 and t2.optimum[2] == 0.0


@pytest.mark.parametrize(
    "changes, needle",
    [
        (dict(x_min=3e7, x_max=30000000.15, slope=0.0, bias=0.0, w0=0.0, b0=0.0), "too close together"),
        (dict(x_min=0.0, x_max=1e-200, x_step=1e-201), "too close together"),
        (dict(x_min=-1e308, x_max=1e308, x_step=1.0), "out of range"),
        (dict(x_step=1e-300), "more than"),
    ],
)
def test_data_a_line_cannot_be_fitted_to_is_refused(changes, needle):
    with pytest.raises(ConfigError, match=needle):
        train(Config(**changes))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["analysis"].update(window={"w": [0, 1, 2], "b": [0, 1], "w_step": 1, "b_step": 1}),
            "analysis.window",
        ),
        (
            lambda d: d["analysis"].update(window={"w": [0, 1], "b": [0, 1], "w_step": 0, "b_step": 1}),
            "analysis.window",
        ),
        (
            lambda d: d["analysis"].update(window={"w": ["a", "b"], "b": [0, 1], "w_step": 1, "b_step": 1}),
            "analysis.window",
        ),
        (
            lambda d: d["analysis"].update(window={"w": [-1e300, 1e300], "b": [0, 1], "w_step": 1, "b_step": 1}),
            "analysis.window",
        ),
        (lambda d: d["states"][1].update(loss=-1.0), "negative"),
        (lambda d: d.update(diverged_at=4), "diverged_at is 4"),
        (lambda d: d.update(diverged_at=3, diverged_reason={"x": 1}) or d["states"].pop(), "diverged_reason"),
        (lambda d: d["data"].update(x=[1e200 * (i + 1) for i in range(len(d["data"]["x"]))]), "out of range"),
        (lambda d: d["analysis"].update(optimum="x"), "analysis.optimum"),
    ],
)
def test_more_malformed_traces(mutate, message):
    d = _doc()
    mutate(d)
    with pytest.raises(TraceError) as err:
        Trace.from_dict(d)
    assert message in str(err.value)


def test_deeply_nested_json_is_one_error(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TraceError, match="nested too deeply|malformed|must be a JSON object"):
        Trace.load(p)


@pytest.mark.parametrize(
    "config",
    [
        Config(lr=0.1, steps=25),
        Config(lr=0.05, steps=25, optimizer="momentum", momentum=0.8),
        Config(lr=0.05, steps=25, optimizer="nesterov"),
        Config(lr=0.5, steps=25, optimizer="adam"),
        Config(lr=0.05, steps=25, optimizer="adam", batch_size=7),
        Config(lr=0.05, steps=25, optimizer="momentum", batch_size=5),
    ],
    ids=lambda c: f"{c.optimizer}-bs{c.batch_size}",
)
def test_the_trainers_updates_are_torch_optims_to_the_bit(config, monkeypatch):
    # the registry runs torch.optim's rules through their functional form; the classes themselves
    # (step wrapper and all) must give the very same trace
    import torch

    from descent.trainer import optimizers

    classes = {
        "sgd": lambda c, p: torch.optim.SGD(p, lr=c.lr),
        "momentum": lambda c, p: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum),
        "nesterov": lambda c, p: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, nesterov=True),
        "adam": lambda c, p: torch.optim.Adam(p, lr=c.lr),
    }
    ours = train(config)
    spec = optimizers.OPTIMIZERS[config.optimizer]
    monkeypatch.setitem(optimizers.OPTIMIZERS, config.optimizer, replace(spec, make=classes[config.optimizer]))
    theirs = train(config)
    for field in ("w", "b", "loss", "grad_w", "grad_b"):
        assert np.array_equal(getattr(ours, field), getattr(theirs, field)), field


def test_training_does_not_import_torch_dynamo():
    # torch.optim's class step imports torch._dynamo on first use (about 1.5 s of every command that trains)
    code = (
        "import sys\n"
        "from descent.trainer import Config, train\n"
        "for o in ('sgd', 'momentum', 'nesterov', 'adam'):\n"
        "    train(Config(optimizer=o, steps=3))\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
