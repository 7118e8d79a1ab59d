"""Pure helpers behind the scenes: sampling, interpolation, clipping, names."""

from __future__ import annotations

import numpy as np
import pytest

from descent.scenes.helpers import (
    StepClock,
    clip_polyline,
    clip_segment,
    contour_levels,
    equal_aspect,
    fmt_num,
    fmt_pow10,
    key_steps,
    safe_name,
)


def test_key_steps_short_and_long():
    assert key_steps(15) == list(range(16))
    keys = key_steps(5000, max_keys=45)
    assert keys[0] == 0 and keys[-1] == 5000 and len(keys) <= 46
    assert keys == sorted(set(keys))
    assert keys[:5] == [0, 1, 2, 3, 4]  # the fast early steps are all shown


def test_clock_hits_every_key_state_exactly():
    w, b, loss = np.arange(6.0), -np.arange(6.0), np.array([100, 10, 1, 0.1, 0.01, 0.001])
    clock = StepClock(w, b, loss, [0, 2, 5], log_loss=True)
    for t, k in [(0.0, 0), (1.0, 2), (2.0, 5)]:
        st = clock.at(t)
        assert (st.kf, st.w, st.b, st.k_shown) == (k, w[k], b[k], k)
        assert st.loss == pytest.approx(loss[k])
    mid = clock.at(1.5)
    assert 2 < mid.kf < 5 and mid.w == pytest.approx(mid.kf)  # w moves linearly through the states
    # log interpolation keeps the marker on the drawn (log) curve
    st = clock.state_at_step(0.5)
    assert st.loss == pytest.approx(10**1.5)


def test_clock_is_monotonic():
    clock = StepClock.uniform(np.arange(16.0), np.zeros(16), np.ones(16))
    kfs = [clock.at(t).kf for t in np.linspace(0, 15, 301)]
    assert all(b >= a for a, b in zip(kfs, kfs[1:], strict=False))


def test_clip_segment():
    a, z, entered, left = clip_segment((-2, 0), (2, 0), (-1, -1), (1, 1))
    assert np.allclose(a, (-1, 0)) and np.allclose(z, (1, 0)) and entered and left
    assert clip_segment((2, 2), (3, 3), (-1, -1), (1, 1)) is None
    a, z, entered, left = clip_segment((0, 0), (0.5, 0.5), (-1, -1), (1, 1))
    assert not entered and not left


def test_clip_polyline_reports_the_exit():
    pts = np.array([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0], [10.0, 0.0]])
    runs, exits = clip_polyline(pts, (-1, -1), (1, 1))
    assert len(runs) == 1 and np.allclose(runs[0][-1], (1, 0))
    assert len(exits) == 1 and np.allclose(exits[0][1], (1, 0))


def test_equal_aspect():
    w, b, step = equal_aspect((-20, 10), (-15, 5), 6.0, 6.0)
    assert w[1] - w[0] == pytest.approx(b[1] - b[0])
    assert w[0] <= -20 and w[1] >= 10 and b[0] <= -15 and b[1] >= 5


def test_formatting():
    assert fmt_num(-1.5) == "\u22121.5"
    assert fmt_num(835.757) == "835.8"
    assert fmt_num(0.0109321, 3) == "0.0109"
    assert "e" in fmt_num(5.28e5)
    assert fmt_pow10(1e-2) == "0.01" and fmt_pow10(1e6) == "10\u2076"
    levels = contour_levels(0.01, 1000)
    assert levels == sorted(levels) and all(0.01 < v <= 1000 for v in levels)


@pytest.mark.parametrize("raw", ["../../etc/passwd", "a/b", "..", ".hidden", "x y", "fit_lr1e-3"])
def test_safe_name(raw):
    name = safe_name(raw)
    assert "/" not in name and not name.startswith(".") and name
