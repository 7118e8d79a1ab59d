"""Themes: dark (default, for projectors and video) and light (for white course pages).

Every colour a student must tell apart was chosen by measurement, and
``tests/test_palette.py`` measures it again from these objects: the six run
colours (:data:`SERIES`; the first is the single run's) differ pairwise by a
CIEDE2000 ΔE of at least 20 for normal vision and after simulated
deuteranopia, protanopia and tritanopia, and differ as much from the data
points; each has at least 3:1 contrast (WCAG 1.4.11) against every colour of
the heat map it can cross and against the background; text has at least
4.5:1 against whatever is behind it. That is why the heat maps span a narrow
band of lightness (a dark one under bright runs, a pale one under dark runs):
a wide ramp leaves no colour that stands out on all of it.

Examples
--------
>>> from descent.scenes.theme import get_theme
>>> get_theme("light").background
'#FFFFFF'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Theme", "TextSizes", "Margins", "THEMES", "get_theme", "SERIES"]

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}

#: Colours for several runs in one clip (comparison), in order; the first is the theme's ``run``.
#: Found by a search over sRGB for colours at least 20 apart (CIEDE2000, under the four visions)
#: within the contrast limits above, then ordered (and re-chosen) so that the first two, three and
#: four differ in hue first, not only in lightness (most comparisons have 2 to 4 runs): dark
#: yellow, violet, teal, orange, then pink and mint (the optimum is a sage green, 15.8 from all
#: six: no green is 20 from six runs 20 apart); light rust, blue, mauve, olive, then navy and
#: near-black (a known defect, see tests/test_palette.py). ``tests/test_palette.py`` measures it.
SERIES = {
    "dark": ["#EEFF22", "#9966FF", "#00AA99", "#DD7711", "#FFBBFF", "#CCFFDD"],
    "light": ["#772200", "#0000DD", "#996677", "#778800", "#001144", "#110000"],
}


@dataclass(frozen=True)
class TextSizes:
    """Font sizes (Manim font_size units) of every kind of text in a clip, legible at 480p."""

    title: float = 30  # the header's title
    step: float = 26  # the header's step counter (bold)
    values: float = 22  # the header's live w, b, loss
    subtitle: float = 19  # the header's second line
    axis: float = 22  # axis names (x, y, w, b)
    panel_title: float = 20  # a panel's title above its plot
    loss_title: float = 19  # the loss panel's title
    tick: float = 19  # tick labels
    tick_small: float = 17  # tick labels of the smaller loss panel
    tick_3d: float = 15  # tick labels on the 3-D surface's edges
    legend: float = 18  # legend rows
    note: float = 16  # contour values, L* beside its line
    marker: float = 18  # the minimum's label
    banner: float = 22  # the divergence banner's headline
    banner_detail: float = 20  # its second line


@dataclass(frozen=True)
class Margins:
    """Gaps (scene units) between text and what it labels."""

    tick: float = 0.1  # tick label to plot edge
    title: float = 0.1  # panel title to plot top
    axis_label: float = 0.42  # axis name below the w ticks
    legend: float = 0.1  # legend swatch to its text


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    text: str  # main text
    muted: str  # axis labels, tick labels, secondary text
    axis: str  # axis lines
    grid: str  # faint guide lines
    run: str  # the fitted line, path, current point, loss curve
    run_outline: str  # halo drawn under the run so it reads on any background
    points: str  # data points
    truth: str  # the true line f
    optimum: str  # the optimum marker
    warn: str  # divergence banner
    warn_text: str  # text on the banner
    warn_ink: str  # warning words on the background (lr_max in the lesson)
    contour: str  # contour lines
    heat_stops: tuple  # (position, (r, g, b)) stops for low → high loss
    panel: str  # panel backing
    residual: str = OKABE_ITO["purple"]  # residual segments from each point to the fitted line
    gradient: str = OKABE_ITO["yellow"]  # the descent direction −∇L and the level curve it crosses
    surface_stops: tuple = ()  # low → high loss on the 3-D surface (default: heat_stops)
    font: str = "DejaVu Sans"
    sizes: TextSizes = TextSizes()
    margins: Margins = Margins()

    @property
    def series(self) -> list[str]:
        return SERIES[self.name]


def _rgb(hex_: str) -> tuple[float, float, float]:
    h = hex_.lstrip("#")
    return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


DARK = Theme(
    name="dark",
    background="#0E1117",
    text="#F2F4F8",
    muted="#A9B1BD",
    axis="#7D8794",
    grid="#2A313C",
    run=SERIES["dark"][0],
    run_outline="#0E1117",
    points="#806858",
    truth="#C8CDD5",
    optimum="#A0C088",
    warn="#B84A00",
    warn_text="#FFFFFF",
    warn_ink="#D85018",
    contour="#DCE6F2",
    heat_stops=(
        (0.0, _rgb("#0A1628")),
        (0.45, _rgb("#13283F")),
        (1.0, _rgb("#1F3C5C")),
    ),
    panel="#151A22",
    residual=OKABE_ITO["purple"],
    gradient="#33DDFF",  # cyan: the run is yellow
    surface_stops=(  # the 3-D surface is shaded, so it keeps a wider ramp
        (0.0, _rgb("#0B1D33")),
        (0.45, _rgb("#1D4268")),
        (0.8, _rgb("#3C6E9A")),
        (1.0, _rgb("#6E9CC2")),
    ),
)

LIGHT = Theme(
    name="light",
    background="#FFFFFF",
    text="#15191F",
    muted="#4A525E",
    axis="#5E6772",
    grid="#E3E7EC",
    run=SERIES["light"][0],
    run_outline="#FFFFFF",
    points="#0096FF",
    truth="#6B7380",
    optimum="#007A55",
    warn="#B84A00",
    warn_text="#FFFFFF",
    warn_ink="#B84A00",
    contour="#1E3550",
    heat_stops=(
        (0.0, _rgb("#CDE4FF")),
        (0.45, _rgb("#E2EFFD")),
        (1.0, _rgb("#F8FBFF")),
    ),
    panel="#F6F8FA",
    residual="#A8508A",  # Okabe–Ito's purple, darkened to read as a thin line on white
    gradient="#15191F",
    surface_stops=(
        (0.0, _rgb("#1F5F99")),
        (0.45, _rgb("#4D8BC2")),
        (0.8, _rgb("#8DB9DE")),
        (1.0, _rgb("#C6DDF0")),
    ),
)

THEMES = {"dark": DARK, "light": LIGHT}


def get_theme(name: str) -> Theme:
    try:
        return THEMES[name]
    except KeyError:
        raise ValueError(f"unknown theme {name!r} (choose from {', '.join(THEMES)})") from None
