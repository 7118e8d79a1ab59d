"""WebVTT captions: one cue per state a clip shows, timed from the scene's own schedule.

Examples
--------
>>> from descent.trainer import Config, train
>>> from descent.publish.captions import vtt_cues
>>> cues = vtt_cues("fit", [train(Config(steps=3))])
>>> cues[0][2]
'Step 0: w = −15, b = −10, loss = 835.8'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from descent.scenes.helpers import fmt_num, key_steps
from descent.trainer import Trace, atomic_write

__all__ = ["vtt_cues", "write_vtt"]


def _stamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def vtt_cues(scene: str, traces: Sequence[Trace], scene_options: dict | None = None) -> list[tuple[float, float, str]]:
    """One cue per state shown: when the header switches to step k, until the next."""
    from descent.scenes import scene_class

    cls = type("Timing", (scene_class(scene),), dict(scene_options or {}))
    main = max(traces, key=lambda t: t.n_states)
    start, descent, total = cls.schedule(traces)
    keys = key_steps(main.last_k, cls.max_keys)
    t_max = max(len(keys) - 1, 1)
    cues = []
    for i, k in enumerate(keys):
        begin = 0.0 if i == 0 else start + (i - 0.5) / t_max * descent
        end = total if i == len(keys) - 1 else start + (i + 0.5) / t_max * descent
        if len(traces) > 1:
            parts = [f"lr {t.config.lr:g} loss = {fmt_num(t.loss[min(k, t.last_k)])}" for t in traces]
            text = f"Step {k}: " + "; ".join(parts)
        else:
            text = f"Step {k}: w = {fmt_num(main.w[k])}, b = {fmt_num(main.b[k])}, loss = {fmt_num(main.loss[k])}"
        cues.append((begin, end, text))
    return cues


def write_vtt(dst: Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    lines = ["WEBVTT", ""]
    for i, (a, b, text) in enumerate(cues, 1):
        lines += [str(i), f"{_stamp(a)} --> {_stamp(b)}", text, ""]
    return atomic_write(dst, "\n".join(lines))
