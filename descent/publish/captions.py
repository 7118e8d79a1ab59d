"""WebVTT captions: one cue per state a clip shows, timed from the scene's own schedule; a lesson's
chapters and its script as WebVTT.

Cue text is escaped as WebVTT requires (``&``, ``<``, ``>`` as character references, so no ``-->`` and no
markup) and kept on one line (no blank line can end a cue early).

Examples
--------
>>> from descent.trainer import Config, train
>>> from descent.publish.captions import vtt_cues
>>> cues = vtt_cues("fit", [train(Config(steps=3))])
>>> cues[0][2]
'Step 0: w = −15, b = −10, loss = 835.8'
>>> print(chapters_vtt([{"number": 1, "key": "data", "title": "The data", "start": 0.0, "end": 12.4}]))
WEBVTT
<BLANKLINE>
data
00:00:00.000 --> 00:00:12.400
1. The data
<BLANKLINE>
>>> vtt_text("a <b> & c --> d")
'a &lt;b&gt; &amp; c --&gt; d'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from descent.publish.lesson import check_chapters, check_lines, one_line
from descent.scenes.helpers import fmt_num, key_steps
from descent.trainer import Trace, atomic_write

__all__ = ["chapters_vtt", "script_vtt", "vtt_cues", "vtt_text", "write_vtt"]


def _stamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def vtt_cues(scene: str, traces: Sequence[Trace], scene_options: dict | None = None) -> list[tuple[float, float, str]]:
    """One cue per state shown: when the header switches to step k, until the next."""
    from descent.scenes import scene_class
    from descent.scenes.compare import run_label

    cls = type("Timing", (scene_class(scene),), dict(scene_options or {}))
    by = getattr(cls, "compare_by", "lr")
    main = max(traces, key=lambda t: t.n_states)
    start, descent, total = cls.schedule(traces)
    keys = key_steps(main.last_k, cls.max_keys)
    t_max = max(len(keys) - 1, 1)
    cues = []
    for i, k in enumerate(keys):
        begin = 0.0 if i == 0 else start + (i - 0.5) / t_max * descent
        end = total if i == len(keys) - 1 else start + (i + 0.5) / t_max * descent
        if len(traces) > 1:  # each run named as the clip's legend names it (sgd, adam; lr 0.1, lr 0.2; …)
            parts = [f"{run_label(t.config, by)} loss = {fmt_num(t.loss[min(k, t.last_k)])}" for t in traces]
            text = f"Step {k}: " + "; ".join(parts)
        else:
            text = f"Step {k}: w = {fmt_num(main.w[k])}, b = {fmt_num(main.b[k])}, loss = {fmt_num(main.loss[k])}"
        cues.append((begin, end, text))
    return cues


def vtt_text(text: str) -> str:
    """``text`` as the payload of one cue: one line, ``&``, ``<`` and ``>`` as character references."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt(cues: Sequence[tuple[str, float, float, str]]) -> str:
    lines = ["WEBVTT", ""]
    for ident, a, b, text in cues:
        lines += [ident, f"{_stamp(a)} --> {_stamp(b)}", vtt_text(text), ""]
    return "\n".join(lines)


def write_vtt(dst: Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    """Write ``cues`` (start, end, text), numbered from 1, to ``dst`` (complete or not at all)."""
    return atomic_write(dst, _vtt([(str(i), a, b, text) for i, (a, b, text) in enumerate(cues, 1)]))


def chapters_vtt(chapters: Sequence[dict]) -> str:
    """A chapters track: one cue per chapter, its identifier the chapter's key, its text ``"N. Title"``.

    Parameters
    ----------
    chapters
        The lesson's ``chapters`` (dicts with number, key, title, start, end), contiguous and in order.

    Returns
    -------
    str
        The WebVTT file's text.
    """
    return _vtt([(c["key"], c["start"], c["end"], f"{c['number']}. {c['title']}") for c in check_chapters(chapters)])


def script_vtt(lines: Sequence[dict]) -> str:
    """A captions track: one cue per line of the script, numbered from 1 in order of start time.

    Parameters
    ----------
    lines
        The lesson's ``lines`` (dicts with text, start, end; the other keys are not used here).

    Returns
    -------
    str
        The WebVTT file's text.
    """
    return _vtt([(str(i), x["start"], x["end"], x["text"]) for i, x in enumerate(check_lines(lines), 1)])
