"""The palette, measured from the theme objects and the built scenes: a colour change cannot break it silently.

Run colours stay apart from each other and from the data points for normal vision and under simulated
colour blindness (CIEDE2000 after ``colorspacious``' CVD simulation), stand out (WCAG 1.4.11, 3:1) on
every heat-map colour they can cross and on the background, and every text has 4.5:1 (WCAG 1.4.3)
against what is drawn behind it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from manim import DL, UR, ImageMobject, RoundedRectangle, Text, VMobject

from descent.scenes.compare import CompareScene
from descent.scenes.fit import FitScene
from descent.scenes.helpers import colour_ramp
from descent.scenes.theme import THEMES, Theme
from descent.trainer import Config, train

from .conftest import build_scene

colorspacious = pytest.importorskip("colorspacious")

#: The least CIEDE2000 difference between two run colours, or a run and the data points, in every vision.
MIN_DELTA_E = 20.0
MIN_GRAPHIC = 3.0  # WCAG 1.4.11: a line or a marker against what it crosses
MIN_TEXT = 4.5  # WCAG 1.4.3: text against what is behind it
MOST_RUNS = 6  # a comparison has up to six runs
VISIONS = {"normal": None, "deuteranopia": "deuteranomaly", "protanopia": "protanomaly", "tritanopia": "tritanomaly"}


# -- colour science ------------------------------------------------------------------------------
def rgb(colour) -> np.ndarray:
    """sRGB in [0, 1] of '#RRGGBB' (or a Manim colour)."""
    h = str(colour).lstrip("#")
    return np.array([int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)])


def luminance(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    la, lb = luminance(a), luminance(b)
    return (np.maximum(la, lb) + 0.05) / (np.minimum(la, lb) + 0.05)


def lab(c: np.ndarray, vision: str) -> np.ndarray:
    c = np.clip(np.atleast_2d(np.asarray(c, dtype=float)), 0, 1)
    if VISIONS[vision] is not None:
        space = {"name": "sRGB1+CVD", "cvd_type": VISIONS[vision], "severity": 100}
        c = np.clip(colorspacious.cspace_convert(c, space, "sRGB1"), 0, 1)
    return colorspacious.cspace_convert(c, "sRGB1", "CIELab")


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005)."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=float), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=float), -1, 0)
    cb = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(cb**7 / (cb**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = h2p - h1p
    dh = np.where(c1p * c2p == 0, 0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    d_l, d_c = L2 - L1, c2p - c1p
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    lbp, cbp, hs = (L1 + L2) / 2, (c1p + c2p) / 2, h1p + h2p
    hbp = np.where(
        c1p * c2p == 0,
        hs,
        np.where(np.abs(h1p - h2p) <= 180, hs / 2, np.where(hs < 360, (hs + 360) / 2, (hs - 360) / 2)),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(hbp - 30))
        + 0.24 * np.cos(np.radians(2 * hbp))
        + 0.32 * np.cos(np.radians(3 * hbp + 6))
        - 0.20 * np.cos(np.radians(4 * hbp - 63))
    )
    rc = 2 * np.sqrt(cbp**7 / (cbp**7 + 25.0**7))
    sl = 1 + 0.015 * (lbp - 50) ** 2 / np.sqrt(20 + (lbp - 50) ** 2)
    sc, sh = 1 + 0.045 * cbp, 1 + 0.015 * cbp * t
    rt = -np.sin(np.radians(60 * np.exp(-(((hbp - 275) / 25) ** 2)))) * rc
    return np.sqrt((d_l / sl) ** 2 + (d_c / sc) ** 2 + (d_h / sh) ** 2 + rt * (d_c / sc) * (d_h / sh))


def delta_e(a, b) -> float:
    """The least CIEDE2000 difference of two colours over the four visions."""
    return min(float(ciede2000(lab(rgb(a), v)[0], lab(rgb(b), v)[0])) for v in VISIONS)


def heat_colours(theme: Theme) -> np.ndarray:
    """Every colour of the theme's heat map (its ramp, finely sampled: the image interpolates between them)."""
    return colour_ramp(np.linspace(0, 1, 512), theme.heat_stops).astype(float) / 255


def test_the_colour_science_is_right():
    """Known values: Sharma's CIEDE2000 test pairs, WCAG's extremes, and what colour blindness merges."""
    assert float(ciede2000(np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485]))) == pytest.approx(
        2.0425, abs=1e-4
    )
    assert float(ciede2000(np.array([50, 2.5, 0]), np.array([73, 25, -18]))) == pytest.approx(27.1492, abs=1e-4)
    assert float(contrast(rgb("#000000"), rgb("#FFFFFF"))) == pytest.approx(21.0)
    assert float(contrast(rgb("#767676"), rgb("#FFFFFF"))) == pytest.approx(4.54, abs=0.01)
    # red and green, far apart for normal vision, nearly merge for a deuteranope
    assert (
        delta_e("#D62728", "#2CA02C")
        < 15
        < float(ciede2000(lab(rgb("#D62728"), "normal"), lab(rgb("#2CA02C"), "normal"))[0])
    )


# -- graphics ---------------------------------------------------------------------------------------
@pytest.fixture(params=sorted(THEMES))
def theme(request) -> Theme:
    return THEMES[request.param]


def test_there_is_a_colour_for_every_run_and_the_first_is_the_runs(theme):
    assert len(theme.series) >= MOST_RUNS and len(set(theme.series[:MOST_RUNS])) == MOST_RUNS
    assert theme.series[0] == theme.run


def test_run_colours_differ_pairwise_in_every_vision(theme):
    worst = min((delta_e(a, b), a, b) for a, b in itertools.combinations(theme.series[:MOST_RUNS], 2))
    assert worst[0] >= MIN_DELTA_E, f"{theme.name}: {worst[1]} and {worst[2]} differ by ΔE {worst[0]:.1f}"


def test_run_colours_differ_from_the_data_points_in_every_vision(theme):
    worst = min((delta_e(c, theme.points), c) for c in theme.series[:MOST_RUNS])
    assert worst[0] >= MIN_DELTA_E, f"{theme.name}: {worst[1]} vs the points {theme.points}: ΔE {worst[0]:.1f}"


#: The least CIEDE2000 difference, in every vision, between a run colour and a marker drawn beside the runs.
#: Not MIN_DELTA_E: a search over sRGB (every colour within the contrast limits, six runs 20 apart and from the
#: points) found no green minimum marker more than 15.8 from all six runs of the dark theme; the marker also
#: differs in shape (a ringed cross, labelled) where a run is a path of dots.
MIN_MARKER_DELTA_E = 15.0
LESSON_RUNS = 3  # the lesson draws its first three run colours beside the warning ink (the lr_max line and table)
INK_DELTA_E = 20.0  # normal vision: closer than this to the text colour, a thin line reads as the text's ink
MIN_HEAT_SPAN = 10.0  # CIEDE2000 between the heat map's ends: less and the bowl of the loss hardly shows

#: Known defects of the light theme, measured: its navy and near-black runs both read as ink, and its optimum
#: green is 9.5 from its mauve run. No six light run colours are 20 apart in every vision without two of them
#: near black (the same search: 17.9 at best with one near-black), so fixing them needs a decision on the limits.
LIGHT_DEFECT = pytest.mark.xfail(strict=True, reason="light theme: see LIGHT_DEFECT in tests/test_palette.py")
THEMES_MARKED = [pytest.param(n, marks=LIGHT_DEFECT) if n == "light" else n for n in sorted(THEMES)]


@pytest.mark.parametrize("name", THEMES_MARKED)
def test_run_colours_differ_from_the_markers_beside_them(name):
    """The optimum's marker beside every run's path (in a comparison of six, the sixth was the optimum's green:
    ΔE 0.3); the banner and the warning ink beside the lesson's three runs (its diverging run beside lr_max)."""
    theme = THEMES[name]
    beside = [(c, theme.optimum, "optimum") for c in theme.series[:MOST_RUNS]]
    beside += [
        (c, m, what)
        for c in theme.series[:LESSON_RUNS]
        for m, what in ((theme.warn, "warn"), (theme.warn_ink, "warn_ink"))
    ]
    worst = min((delta_e(c, m), c, m, what) for c, m, what in beside)
    assert worst[0] >= MIN_MARKER_DELTA_E, f"{name}: run {worst[1]} vs the {worst[3]} {worst[2]}: ΔE {worst[0]:.1f}"


@pytest.mark.parametrize("name", THEMES_MARKED)
def test_no_two_run_colours_read_as_the_ink(name):
    """A navy and a near-black are 21 apart by CIEDE2000, yet on a white page both are drawn as black lines;
    what they share is their nearness to the text's ink. At most one run colour may read as ink."""
    theme = THEMES[name]
    ink = lab(rgb(theme.text), "normal")[0]
    inky = [c for c in theme.series[:MOST_RUNS] if float(ciede2000(lab(rgb(c), "normal")[0], ink)) < INK_DELTA_E]
    assert len(inky) <= 1, f"{name}: {inky} all read as the ink {theme.text}"


def test_the_heat_map_shows_the_loss(theme):
    lo, hi = heat_colours(theme)[[0, -1]]
    span = float(ciede2000(lab(lo, "normal")[0], lab(hi, "normal")[0]))
    assert span >= MIN_HEAT_SPAN, f"{theme.name}: the heat map's ends differ by ΔE {span:.1f}"


COMMON_RUNS = 4  # most comparisons have 2 to 4 runs
MIN_HUE_GAP = 45.0  # degrees of CIELab hue between any two of the first COMMON_RUNS colours
MIN_CHROMA = 20.0  # CIELab chroma: enough colourfulness for the hue to be seen at all


def lch(colour) -> tuple[float, float, float]:
    """CIELab lightness, chroma and hue angle (degrees) of a colour, for normal vision."""
    lightness, a, b = lab(rgb(colour), "normal")[0]
    return float(lightness), float(np.hypot(a, b)), float(np.degrees(np.arctan2(b, a)) % 360)


def hue_gap(a, b) -> float:
    d = abs(lch(a)[2] - lch(b)[2]) % 360
    return min(d, 360 - d)


def test_the_first_run_colours_differ_in_hue(theme):
    """ΔE alone lets two runs differ only in lightness (a yellow and an olive: 'the same colour' to a
    student); the commonest comparisons get colours of different hues, each colourful enough to show it."""
    first = theme.series[:COMMON_RUNS]
    for c in first:
        assert lch(c)[1] >= MIN_CHROMA, f"{theme.name}: {c} has chroma {lch(c)[1]:.0f}: its hue hardly shows"
    worst = min((hue_gap(a, b), a, b) for a, b in itertools.combinations(first, 2))
    assert worst[0] >= MIN_HUE_GAP, f"{theme.name}: {worst[1]} and {worst[2]} differ by {worst[0]:.0f}° of hue"


def test_run_colours_stand_out_on_the_heat_map_and_the_background(theme):
    heat = heat_colours(theme)
    for c in theme.series[:MOST_RUNS]:
        on_heat = float(contrast(rgb(c)[None], heat).min())
        assert on_heat >= MIN_GRAPHIC, f"{theme.name}: run {c} on the heat map: {on_heat:.2f}:1"
        for behind in (theme.background, theme.panel):
            assert float(contrast(rgb(c), rgb(behind))) >= MIN_GRAPHIC, (theme.name, c, behind)


def test_markers_stand_out_where_they_are_drawn(theme):
    """The data points on the background; the optimum's marker on the heat map."""
    assert float(contrast(rgb(theme.points), rgb(theme.background))) >= MIN_GRAPHIC
    assert float(contrast(rgb(theme.optimum)[None], heat_colours(theme)).min()) >= MIN_GRAPHIC


# -- text, in the built scenes ------------------------------------------------------------------------
def texts(scene) -> list[VMobject]:
    """Every visible text the scene's panels draw: Manim Text and the glyph-set numbers."""
    out = []
    for panel in scene.panels:
        for layer in (panel.static, panel.stepwise, panel.dynamic):
            out += [m for m in layer.get_family() if isinstance(m, Text)]
        for glyphs in (getattr(panel, "_values", None), getattr(panel, "values", None)):
            if glyphs is not None:
                out += [m for m in glyphs if len(m.points)]
    return [m for m in out if m.get_fill_opacity() > 0]


def draw_order(scene) -> dict[int, tuple]:
    """Each mobject's place in drawing order: every panel's static parts, then the stepwise, then the moving."""
    order = {}
    for layer in range(3):
        for i, panel in enumerate(scene.panels):
            mob = (panel.static, panel.stepwise, panel.dynamic)[layer]
            for j, m in enumerate(mob.get_family()):
                order.setdefault(id(m), (layer, i, j))
    return order


def boxes_behind(scene, mob) -> list[RoundedRectangle]:
    """The filled boxes (label backings, legend, banner) drawn before the text, under its centre."""
    centre = mob.get_center()
    order = draw_order(scene)
    found = []
    for panel in scene.panels:
        for layer in (panel.static, panel.stepwise):
            for m in layer.get_family():
                if isinstance(m, RoundedRectangle) and m.get_fill_opacity() > 0 and order[id(m)] < order[id(mob)]:
                    lo, hi = m.get_corner(DL), m.get_corner(UR)
                    if np.all(centre[:2] >= lo[:2]) and np.all(centre[:2] <= hi[:2]):
                        found.append(m)
    return sorted(found, key=lambda m: order[id(m)])


def backdrop(scene, mob, theme: Theme) -> np.ndarray:
    """Every colour that can be behind the text: the background or the heat map, under its boxes."""
    lo, hi = mob.get_corner(DL), mob.get_corner(UR)
    under = [rgb(theme.background)]
    for panel in scene.panels:
        for m in panel.static.get_family():
            if isinstance(m, ImageMobject):
                mlo, mhi = m.get_corner(DL), m.get_corner(UR)
                if np.all(hi[:2] > mlo[:2]) and np.all(lo[:2] < mhi[:2]):
                    under += list(heat_colours(theme))
    colours = np.array(under)
    for box in boxes_behind(scene, mob):
        a = box.get_fill_opacity()
        colours = a * rgb(box.get_fill_color().to_hex()) + (1 - a) * colours
    return colours


def scenes_for(theme: str):
    lab = train(Config())
    wild = train(Config(lr=0.5, steps=30))
    runs = [train(Config(lr=lr, steps=40)) for lr in (0.05, 0.1, 0.2, 0.3, 0.33, 0.34)]
    for cls, kw in ((FitScene, {"trace": lab}), (FitScene, {"trace": wild}), (CompareScene, {"traces": runs})):
        trace = kw.pop("trace", None)
        scene, group = build_scene(cls, trace, theme=theme, **kw)
        for t in (0.0, scene.ctx.clock.t_max / 2, scene.ctx.clock.t_max):
            scene.tracker.set_value(t)
            group.update(0)
            yield cls.__name__, t, scene


@pytest.mark.parametrize("name", sorted(THEMES))
def test_every_text_reads_against_what_is_behind_it(name):
    theme = THEMES[name]
    checked = 0
    for scene_name, t, scene in scenes_for(name):
        for mob in texts(scene):
            colour = rgb(mob.get_fill_color().to_hex())
            worst = float(contrast(colour[None], backdrop(scene, mob, theme)).min())
            what = getattr(mob, "original_text", "(numbers)")
            assert worst >= MIN_TEXT, f"{name} {scene_name} t={t:g}: {what!r} in {colour} has {worst:.2f}:1"
            checked += 1
    assert checked > 100


def test_the_theme_text_colours_read_on_the_background(theme):
    """Including those only the lesson uses (warning words, the run's own labels)."""
    for c in (theme.text, theme.muted, theme.run, theme.optimum, theme.warn_ink, theme.contour):
        assert float(contrast(rgb(c), rgb(theme.background))) >= MIN_TEXT, (theme.name, c)
    assert float(contrast(rgb(theme.warn_text), rgb(theme.warn))) >= MIN_TEXT
    # the lesson names its three runs in their colours, in a table on the background
    for c in theme.series[:3]:
        assert float(contrast(rgb(c), rgb(theme.background))) >= MIN_TEXT, (theme.name, c)
