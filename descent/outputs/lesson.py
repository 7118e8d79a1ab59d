"""One chapter of the lesson rendered into a work folder: the job a lesson's worker does.

:func:`descent.lesson.render_lesson` hands each chapter to :func:`render_chapter` (in a
worker process of its own, or in turn) and joins what they stage.
"""

from __future__ import annotations

from pathlib import Path

from descent.scenes.script import LessonRuns

__all__ = ["render_chapter"]


def render_chapter(job: dict) -> dict:
    """Render one chapter into the staging folder of ``job["work"]`` (a worker's job)."""
    from descent.scenes.lesson import CHAPTER_SCENES

    from .clip import stage_clip

    runs: LessonRuns = job["runs"]
    res = stage_clip(
        runs.traces,
        "lesson",
        work=Path(job["work"]),
        name=job["name"],
        quality=job["quality"],
        fps=job["fps"],
        theme=job["theme"],
        preset=job["preset"],
        progress=job.get("progress", False),
        scene_options={"runs": runs, "script": job["script"]},
        encoder_threads=job.get("encoder_threads"),
        scene_cls=CHAPTER_SCENES[job["chapter"]],
    )
    return {
        "chapter": job["chapter"],
        "mp4": str(res.mp4),
        "poster": str(res.poster),
        "frames": res.frames,
        "width": res.width,
        "height": res.height,
        "fps": res.fps,
        "seconds": res.seconds,
    }
