"""One chapter of the lesson rendered into a work folder: the job a lesson's worker does.

:func:`descent.lesson.render_lesson` hands each chapter to :func:`render_chapter` (in a
worker process of its own, or in turn) and joins what they stage.
"""

from __future__ import annotations

import time
from pathlib import Path

from descent.scenes.script import LessonRuns

from .encode import Audio

__all__ = ["render_chapter"]


#: How long a chapter waits for the lesson's narration, made while it rendered (seconds).
NARRATION_WAIT = 120.0


def _slice(audio: dict) -> Audio:
    """The chapter's part of the lesson's narration (float32 samples in a file of the work folder,
    written while the chapters render: waited for, unless making it failed)."""
    import numpy as np

    path = Path(audio["path"])
    deadline = time.monotonic() + NARRATION_WAIT
    while not path.exists():
        if path.with_name("narration.failed").exists() or time.monotonic() > deadline:
            raise RuntimeError("the lesson's narration was not made")
        time.sleep(0.02)
    count = audio["stop"] - audio["start"]
    samples = np.fromfile(audio["path"], dtype="<f4", count=count, offset=4 * audio["start"])
    if samples.size != count:
        raise ValueError(f"the narration file holds {samples.size} of the chapter's {count} samples")
    return Audio(samples, audio["rate"])


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
        audio=_slice(job["audio"]) if job.get("audio") else None,
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
