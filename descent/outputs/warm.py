"""Preparing a process that renders many clips: a batch worker, a Dask worker, the watcher.

Such a process imports torch, Manim and the renderer once (:func:`preload`), keeps each
text's parsed outlines for the clips after the first (:func:`keep_text_outlines`), and
takes what it imported out of the garbage collector's sight (``gc.freeze``): a full
collection would otherwise walk the millions of objects torch and Manim create on import.
A process that renders one clip needs none of it; the API never changes the caller's
process (only its own workers).
"""

from __future__ import annotations

import gc
import importlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PRELOAD_MODULES", "preload", "keep_text_outlines", "keep_no_more_outlines", "warm_process"]

#: What a rendering process imports before its first clip (nothing runs on import: no thread pools start,
#: so a process may fork after it). The trainer never imports ``torch._dynamo``.
PRELOAD_MODULES = ("manim", "torch", "descent.outputs.clip")


def preload() -> None:
    """Import :data:`PRELOAD_MODULES`."""
    for name in PRELOAD_MODULES:
        importlib.import_module(name)


def warm_process() -> None:
    """:func:`preload`, :func:`keep_text_outlines`, then freeze what is there out of the collector's sight."""
    preload()
    keep_text_outlines()
    gc.freeze()


_OUTLINES: dict[tuple, Any] = {}
_keeping = True  # whether a text seen for the first time is kept


def keep_no_more_outlines() -> None:
    """Use the outlines kept so far, but keep no new ones: for a process that renders one clip and exits
    (the watcher's forked render), where keeping a text would be a copy made for nothing."""
    global _keeping
    _keeping = False


def keep_text_outlines() -> None:
    """Parse each distinct text's SVG once in this process (and the children it forks).

    Manim typesets a ``Text`` with Pango into an SVG file named by a hash of the text and
    every setting that shapes it (font, size, weight, colour, spacing), then parses that
    file, which is most of the cost of building a scene; each render does it afresh in a
    scratch folder of its own. Here, the parsed outlines are kept by that name (and the
    canvas size) and copied, as Manim's own SVG cache does (which Text leaves off because
    its files live in a folder that may change). Only this process is changed: a second call does nothing.

    A hit costs a seventh of typesetting the text again (4 ms against 30 ms for a label of 15 characters).
    """
    from manim import config
    from manim.mobject.svg.svg_mobject import SVGMobject
    from manim.mobject.text.text_mobject import MarkupText, Text

    original = SVGMobject.init_svg_mobject
    if getattr(original, "_descent_keeps", False):
        return

    def init_svg_mobject(self, use_svg_cache: bool):
        if not isinstance(self, (Text, MarkupText)):
            return original(self, use_svg_cache)
        key = (
            type(self).__name__,
            Path(str(self.file_name)).name,
            repr(getattr(self, "svg_default", None)),
            repr(getattr(self, "path_string_config", None)),
            config.pixel_width,
            config.pixel_height,
        )
        kept = _OUTLINES.get(key)
        if kept is None:
            original(self, False)
            if not _keeping:
                return self
            kept = self.copy()
            for mob in kept.get_family():  # the parsed SVG element each outline came from: not
                if getattr(mob, "path_obj", None) is not None:  # needed once parsed, and most of a copy's cost
                    mob.path_obj = None
            if len(_OUTLINES) >= 4000:  # a long session's memory stays bounded
                _OUTLINES.clear()
            _OUTLINES[key] = kept
            return self
        self.add(*(_clone(glyph) for glyph in kept.submobjects))
        self.id_to_vgroup_dict = {}
        return self

    init_svg_mobject._descent_keeps = True  # type: ignore[attr-defined]
    SVGMobject.init_svg_mobject = init_svg_mobject


def _clone(mob: Any) -> Any:
    """A copy of a parsed glyph (a childless VMobject): its arrays copied, the rest shared.

    Manim's ``copy()`` deep-copies every attribute; a glyph's other attributes are plain
    values (numbers, strings, colours) that Manim replaces rather than changes in place.
    Anything with children is copied Manim's way.
    """
    import copy

    if mob.submobjects or mob.updaters:
        return mob.copy()
    out = copy.copy(mob)
    for name, value in vars(mob).items():
        if isinstance(value, np.ndarray):
            setattr(out, name, value.copy())
        elif isinstance(value, (list, dict, set)):
            setattr(out, name, copy.copy(value))
    out.submobjects = []
    return out
