"""Fast live labels: compose strings from glyphs typeset once.

A manim ``Text`` runs Pango and parses an SVG each time (about 10 ms); the
header's live values change at every step, and a long run has dozens of
steps. :class:`GlyphSet` typesets its alphabet once, measures each
character's advance, and then builds any string of those characters by
copying glyph outlines, which costs a fraction of a millisecond.

Examples
--------
>>> from descent.scenes.glyphs import GlyphSet
>>> g = GlyphSet("0123456789.−=wb ", font="DejaVu Sans", size=24)
>>> bool(g.text("w = −1.5").width > g.text("w = 1").width)
True
>>> len(g.text("w = 1").submobjects)  # one mobject, however long the string
0
"""

from __future__ import annotations

import functools

import numpy as np
from manim import VMobject

__all__ = ["GlyphSet"]


@functools.lru_cache(maxsize=64)
def _typeset(alphabet: str, font: str, size: float, weight: str) -> tuple[dict, dict, dict]:
    """Each character's advance, left bearing and outline (relative to a pen at x = 0 on the baseline y = 0)."""
    from manim import Text

    chars = sorted(set(alphabet) | {"0"})
    probe = "00" + "".join(c + "0" for c in chars)
    ref = Text(probe, font=font, font_size=size, weight=weight)
    inked = [c for c in probe if not c.isspace()]
    if len(ref.submobjects) != len(inked):  # pragma: no cover - depends on Pango
        raise RuntimeError("unexpected glyph count from Text")
    glyph_of = iter(ref.submobjects)
    lefts: list[tuple[str, VMobject]] = [(c, next(glyph_of)) if not c.isspace() else (c, None) for c in probe]
    zeros = [m.get_left()[0] for c, m in lefts[:2]] + [m.get_left()[0] for c, m in lefts[3::2]]
    adv0 = zeros[1] - zeros[0]
    advance = {"0": adv0}
    bearing = {"0": 0.0}
    glyphs: dict[str, np.ndarray] = {"0": lefts[0][1].points.copy()}
    for i, c in enumerate(chars):
        z_before, z_after = zeros[i + 1], zeros[i + 2]
        advance[c] = z_after - z_before - adv0
        mob = lefts[2 + 2 * i][1]
        if mob is not None:
            glyphs[c] = mob.points.copy()
            bearing[c] = mob.get_left()[0] - (z_before + adv0)
    y_base = ref.get_bottom()[1]
    for c, pts in glyphs.items():
        left = pts[:, 0].min()
        pts[:, 0] += bearing[c] - left
        pts[:, 1] -= y_base
        pts.setflags(write=False)  # shared by every GlyphSet of this style
    return advance, bearing, glyphs


class GlyphSet:
    """Glyphs of one font, size, weight and colour, for strings over a fixed alphabet.

    One ``Text`` of the form ``00a0b0c0…`` gives everything: the outline of
    every glyph, and (from where the zeros land) each character's advance
    and left bearing on a common baseline.
    """

    def __init__(
        self, alphabet: str, *, font: str, size: float, weight: str = "NORMAL", color: str = "#FFFFFF"
    ) -> None:
        self.color = color
        # typeset once per alphabet, font, size and weight in a process (a batch worker renders many clips;
        # the colour is only the VMobjects' fill): shared, read-only
        self.advance, self.bearing, self.glyphs = _typeset("".join(sorted(set(alphabet))), font, float(size), weight)

    def points(self, s: str, x: float = 0.0, y: float = 0.0) -> np.ndarray:
        """Outline points of the string with the pen starting at (x, y) on the baseline."""
        parts = []
        pen = x
        for c in s:
            if c not in self.advance:
                raise KeyError(f"character {c!r} is not in this glyph set")
            pts = self.glyphs.get(c)
            if pts is not None:
                parts.append(pts + np.array([pen, y, 0.0]))
            pen += self.advance[c]
        return np.concatenate(parts) if parts else np.zeros((0, 3))

    def width(self, s: str) -> float:
        """The string's advance width."""
        return sum(self.advance[c] for c in s)

    def text(self, s: str, x: float = 0.0, y: float = 0.0) -> VMobject:
        """The string as one VMobject (one subpath per glyph contour): cheap to draw."""
        mob = VMobject(fill_color=self.color, fill_opacity=1.0, stroke_width=0)
        mob.points = self.points(s, x, y)
        return mob
