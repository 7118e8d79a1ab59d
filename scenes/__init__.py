"""descent's scenes: Manim scenes that draw traces, and the panels they compose.

The scene table :data:`SCENES` is the one place a scene is registered: the
render API, the command line's choices, the batch and the publishing code all
read it. Adding a scene is one :class:`SceneSpec` entry plus its module and
tests. Importing this package does not import Manim; :meth:`SceneSpec.load`
does, on first use.

Examples
--------
>>> from descent.scenes import SCENES
>>> sorted(SCENES)
['compare', 'fit', 'lesson', 'surface']
>>> SCENES["compare"].many_runs, SCENES["fit"].many_runs
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

__all__ = ["SceneSpec", "SCENES", "scene_class", "UnknownScene"]


class UnknownScene(KeyError):
    """No scene of that name is registered."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class SceneSpec:
    """A registered scene.

    Parameters
    ----------
    name
        The name on the command line (``descent render NAME``) and in file names.
    target
        ``"module:Class"`` of the scene class, imported on first use.
    many_runs
        Whether it draws several runs side by side (the comparison) or one.
    summary
        One line for ``--help``.
    lesson
        Whether it is a lesson in chapters (one scene per chapter, rendered into a
        folder of files by :func:`descent.lesson.render_lesson`) rather than one clip.
    """

    name: str
    target: str
    many_runs: bool
    summary: str
    lesson: bool = False

    def load(self) -> Any:
        """The scene class (imports Manim)."""
        module, _, cls = self.target.partition(":")
        return getattr(import_module(module), cls)


#: name → spec, in the order the command line lists them.
SCENES: dict[str, SceneSpec] = {
    spec.name: spec
    for spec in (
        SceneSpec("fit", "descent.scenes.fit:FitScene", False, "the line fitting the points beside the descent"),
        SceneSpec("surface", "descent.scenes.surface:SurfaceScene", False, "the descent on the loss surface in 3-D"),
        SceneSpec("compare", "descent.scenes.compare:CompareScene", True, "several runs on one tracker"),
        SceneSpec(
            "lesson", "descent.scenes.lesson:LessonChapter", True, "the whole lab in chapters, narrated", lesson=True
        ),
    )
}


def scene_class(name: str) -> Any:
    """The scene class registered as ``name``; :class:`UnknownScene` names the choices."""
    try:
        spec = SCENES[name]
    except KeyError:
        raise UnknownScene(f"unknown scene {name!r} (choose from {', '.join(SCENES)})") from None
    return spec.load()
