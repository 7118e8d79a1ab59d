"""The ``descent`` command line: a thin layer of Click over the Python API.

Every error a user can cause ends the same way: one line on stderr saying
what is wrong, exit code 2, nothing written.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from descent._version import __version__
from descent.scenes import SCENES
from descent.trainer import ConfigError, Trace, TraceError, train
from descent.trainer.inputs import printable

from .options import FiniteFloat, config_from_options, render_options, scene_options_from, training_options

__all__ = ["cli", "main", "summary"]


_FAST_EXIT = True


class UserError(click.ClickException):
    """Bad input: reported as one line with exit code 2."""

    exit_code = 2


class DescentGroup(click.Group):
    """A group whose every failure is one line on stderr, never a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt):
            _say("descent: interrupted; nothing was left under a final name")
            sys.exit(130)
        except click.ClickException as exc:
            _say(f"descent: error: {_one_line(exc.format_message())}")
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        except (ConfigError, TraceError) as exc:
            _say(f"descent: error: {_one_line(str(exc))}")
            sys.exit(2)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _say(line: str) -> None:
    """Print a line on stderr if there is a stderr to print to (closed or full: the exit code still tells)."""
    try:
        click.echo(line, err=True)
    except OSError:
        pass


def _out(text: str) -> None:
    """Print on stdout; a stdout that cannot be written (a full disk, an I/O error) is one line on stderr, exit 2.

    A closed stdout (``>&-``) prints nothing; a reader that went away (EPIPE) is left to Click (exit 1).
    """
    try:
        click.echo(text)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise
        raise UserError(f"cannot write to standard output: {exc.strerror or exc}") from None


def _one_line(msg: str) -> str:
    """One printable line: runs of whitespace become one space, control characters escapes (never sent raw)."""
    return " ".join(printable(msg).split())


@click.group(cls=DescentGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="descent")
def cli() -> None:
    """Turn a gradient-descent run into a lecture-quality animation.

    Train 1-D linear regression ŷ = w·x + b by gradient descent (defaults:
    the classic lab, w0 = -15, b0 = -10, lr 0.1, 15 steps), record every
    state as a trace, and render it as video.
    """


def summary(trace: Trace) -> str:
    """A few human lines about a run: where it ended, the optimum, lr_max."""
    c = trace.config
    k = trace.last_k
    w_opt, b_opt, l_opt = trace.optimum
    lo, hi = trace.hessian_eigenvalues
    batch = "full batch" if c.batch_size is None else f"batch size {c.batch_size}"
    lines = [
        f"{c.optimizer}, lr {c.lr:g}, {batch}, {trace.x.size} points (seed {c.seed})",
        f"  start    w = {trace.w[0]:+.6g}  b = {trace.b[0]:+.6g}  loss = {trace.loss[0]:.6g}",
        f"  step {k:<3d} w = {trace.w[k]:+.6g}  b = {trace.b[k]:+.6g}  loss = {trace.loss[k]:.6g}",
        f"  optimum  w* = {w_opt:+.6g}  b* = {b_opt:+.6g}  L* = {l_opt:.6g}",
        f"  lr_max = 2/λ_max = {trace.lr_max:.6g}  (Hessian eigenvalues {lo:.4g}, {hi:.4g};"
        f" condition number {hi / lo:.4g})",
    ]
    if trace.diverged:
        lines.append(
            f"  DIVERGED at step {trace.diverged_at}: {trace.divergence_text}"
            f" (lr {c.lr:g} vs lr_max {trace.lr_max:.4g}); ran {k} of {c.steps} steps"
        )
    else:
        lines.append(f"  ran {k} steps, no divergence")
    return "\n".join(printable(line) for line in lines)  # a trace file's text never reaches the terminal raw


@cli.command("train")
@training_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the trace (JSON, schema descent.trace/1) here, atomically.",
)
def train_cmd(config_file: Path | None, out: Path | None, **options: Any) -> None:
    """Train and print a summary; optionally save the full trace."""
    config = config_from_options(config_file, options)
    trace = train(config)
    if out is not None:
        try:
            trace.save(out)
        except OSError as exc:
            raise UserError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    _out(summary(trace))
    if out is not None:
        _out(f"wrote {printable(str(out))}")


def _warm_up(scene: str):
    """Import the renderer (Manim) in a thread while torch imports and trains."""
    import threading

    def work() -> None:
        try:
            from descent.outputs.clip import scene_class

            scene_class(scene)
        except Exception:  # the real import below reports any problem
            pass

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _render_traces(
    scene: str, trace_files: tuple[Path, ...], config_file: Path | None, options: dict[str, Any]
) -> list[Trace]:
    """The traces to draw: loaded from --trace files, or trained from the options (one per --lr)."""
    lrs = options.pop("lr") or ()
    if trace_files:
        given = [k for k, v in options.items() if v is not None] + (["lr"] if lrs else [])
        if given or config_file is not None:
            raise UserError(
                f"--trace renders a saved run; drop the training option --{(given or ['config'])[0].replace('_', '-')}"
            )
        return [Trace.load(p) for p in trace_files]
    many = SCENES[scene].many_runs
    if not many and len(lrs) > 1:
        raise UserError(f"the {scene} scene draws one run; use 'descent render compare' for several --lr")
    if many and not lrs:
        lrs = (0.1, 0.2)  # the lab's comparison
    configs = [config_from_options(config_file, {**options, "lr": lr}) for lr in (lrs or (None,))]
    return [train(c) for c in configs]


def _check_show(scene: str) -> None:
    """``--show`` is a parameter of the scenes that declare it: one line naming them for any other."""
    from descent.scenes import scene_class

    if "show" in scene_class(scene).all_params():
        return
    takers = []
    for other in SCENES:
        try:
            if other != scene and "show" in scene_class(other).all_params():
                takers.append(other)
        except Exception:  # a scene that cannot be loaded takes no option
            continue
    where = f"of the {' and '.join(takers)} scene{'s' if len(takers) > 1 else ''}" if takers else "of no scene"
    raise UserError(f"--show is an option {where}")


def _notify(msg: str) -> None:
    """One-line notes of render and batch (waiting for a folder, an earlier publication completed)."""
    _say(printable(msg))


@contextlib.contextmanager
def _rendering(out_dir: Path) -> Iterator[None]:
    """What a render raises, said in one line: its RenderError, a folder that cannot be written
    (exit 2), Ctrl-C (what was published, exit 130)."""
    from descent.outputs.clip import Interrupted, RenderError

    try:
        yield
    except RenderError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write to {str(out_dir)!r}: {exc.strerror or exc}") from None
    except Interrupted as exc:
        _say(f"descent: {printable(exc.message)}")
        raise SystemExit(130) from None


@cli.command("render")
@click.argument("scene", type=click.Choice(list(SCENES)), default="fit", required=False)
@training_options(multiple_lr=True)
@click.option(
    "--trace",
    "trace_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Render a saved trace instead of training (repeat for compare).",
)
@render_options
@click.option(
    "--chapters",
    default=None,
    metavar="N[,N]",
    help="lesson: render only these chapters (numbers or names, e.g. 1,4,5).  [default: all]",
)
@click.option(
    "--script",
    "script_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="lesson: an edited narration script (JSON from `descent script lesson`; the ids must match).",
)
@click.option("--webm", is_flag=True, help="lesson: also write a VP9 WebM of the whole lesson.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None, help="lesson: chapters rendered side by side.")
@click.option(
    "--frames",
    "key_frames",
    is_flag=True,
    help="Write the poster and a few key frames as PNG (NAME_start/_third/_two_thirds/_end/_poster.png), no video.",
)
@click.option(
    "--voice",
    default=None,
    metavar="none|espeak|DIR",
    help="Narrate the script (descent script): espeak (offline speech) or DIR of takes named ID.wav/.flac/.mp3/.m4a.",
)
@click.option("--voice-name", default=None, help="espeak-ng voice.  [default: en-us]")
@click.option("--voice-rate", type=click.IntRange(80, 450), default=None, help="espeak words a minute.  [default: 160]")
@click.option(
    "--voice-fallback",
    type=click.Choice(["espeak"]),
    default=None,
    help="Speak the lines that have no take with espeak instead of refusing.",
)
def render_cmd(
    scene: str,
    config_file: Path | None,
    trace_files: tuple[Path, ...],
    quality: str,
    fps: float | None,
    theme: str,
    out_dir: Path,
    name: str | None,
    preset: str,
    seconds_per_step: float | None,
    descent_seconds: float | None,
    quiet: bool,
    no_wait: bool,
    show: tuple[str, ...] | None,
    chapters: str | None,
    script_file: Path | None,
    webm: bool,
    jobs: int | None,
    voice: str | None,
    voice_name: str | None,
    voice_rate: int | None,
    voice_fallback: str | None,
    key_frames: bool = False,
    **options: Any,
) -> None:
    """Render a clip: SCENE is one of the registered scenes (default: fit).

    Writes NAME.mp4 (H.264, streams before fully loaded), NAME.png (poster:
    the final state) and NAME.json (config, trace, versions) to --out-dir.
    The lesson writes the whole lab in chapters: NAME.mp4 and one clip per
    chapter, captions, chapter marks, a transcript and a presenter page NAME.html.
    """
    lesson_only = {
        "--chapters": chapters,
        "--script": script_file,
        "--webm": webm or None,
        "--jobs": jobs,
    }
    if key_frames and SCENES[scene].lesson:
        raise UserError("--frames is an option of the clips (fit, surface, compare), not of the lesson")
    if key_frames and voice is not None:
        raise UserError("--frames writes still frames: it takes no --voice")
    if SCENES[scene].lesson:
        clip_only = {
            "--trace": trace_files or None,
            "--seconds-per-step": seconds_per_step,
            "--duration": descent_seconds,
            "--show": show,
        }
        for flag, value in clip_only.items():
            if value is not None:
                raise UserError(f"{flag} is not an option of the lesson (its timing comes from its script)")
        lrs = options.pop("lr") or ()
        if len(lrs) > 1:
            raise UserError("the lesson trains its own comparison: give one --lr")
        config = config_from_options(config_file, {**options, "lr": lrs[0] if lrs else None})
        voicing = {
            "voice": voice,
            "voice_name": voice_name or "en-us",
            "voice_rate": voice_rate or 160,
            "voice_fallback": voice_fallback,
        }
        _render_lesson(
            config,
            chapters,
            script_file,
            quality,
            fps,
            theme,
            out_dir,
            name,
            preset,
            webm,
            jobs,
            quiet,
            no_wait,
            voicing,
        )
        return
    for flag, value in lesson_only.items():
        if value is not None:
            raise UserError(f"{flag} is an option of the lesson")
    warm = _warm_up(scene)  # import manim and the scene while torch trains
    if show:
        _check_show(scene)
    traces = _render_traces(scene, trace_files, config_file, options)
    warm.join()
    from descent.outputs.clip import render

    if not SCENES[scene].many_runs and len(traces) > 1:
        raise UserError(f"the {scene} scene draws one run (got {len(traces)} traces)")
    if voice is None and (voice_name or voice_rate or voice_fallback):
        raise UserError("--voice-name, --voice-rate and --voice-fallback go with --voice")
    if key_frames:
        timing = (seconds_per_step, descent_seconds)
        _render_key_frames(traces, scene, quality, fps, theme, out_dir, name, *timing, quiet, no_wait, show)
        return
    narrated: dict[str, Any] = {}
    if voice is not None and voice != "none":
        from descent.narrate import render_narrated as render  # noqa: F811  (the same options, and a voice)

        narrated = {
            "voice": voice,
            "voice_name": voice_name or "en-us",
            "voice_rate": voice_rate or 160,
            "voice_fallback": voice_fallback,
        }
    with _rendering(out_dir):
        result = render(
            traces,
            scene,
            **narrated,
            quality=quality,
            fps=fps,
            theme=theme,
            out_dir=out_dir,
            name=name,
            preset=preset,
            progress=not quiet,
            scene_options=scene_options_from(
                {"seconds_per_step": seconds_per_step, "descent_seconds": descent_seconds, "show": show}
            ),
            wait=not no_wait,
            notify=_notify,
        )
    if len(traces) == 1:
        _out(summary(traces[0]))
    _out(
        f"rendered {result.frames} frames ({result.width}x{result.height}, {result.fps:g} fps) "
        f"in {result.seconds:.1f} s"
    )
    for p in result.paths:
        _out(f"wrote {printable(str(p))}")


def _render_key_frames(
    traces: list[Trace],
    scene: str,
    quality: str,
    fps: float | None,
    theme: str,
    out_dir: Path,
    name: str | None,
    seconds_per_step: float | None,
    descent_seconds: float | None,
    quiet: bool,
    no_wait: bool,
    show: tuple[str, ...] | None,
) -> None:
    """``descent render --frames``: the key frames as PNG, no video."""
    from descent.outputs.clip import render_frames

    with _rendering(out_dir):
        result = render_frames(
            traces,
            scene,
            quality=quality,
            fps=fps,
            theme=theme,
            out_dir=out_dir,
            name=name,
            progress=not quiet,
            scene_options=scene_options_from(
                {"seconds_per_step": seconds_per_step, "descent_seconds": descent_seconds, "show": show}
            ),
            wait=not no_wait,
            notify=_notify,
        )
    if len(traces) == 1:
        _out(summary(traces[0]))
    _out(f"rendered {len(result.paths)} key frames ({result.width}x{result.height}) in {result.seconds:.1f} s")
    for role, p in result.files.items():
        _out(f"wrote {printable(str(p))} (step {result.steps[role]})")


def _render_lesson(
    config: Any,
    chapters: str | None,
    script_file: Path | None,
    quality: str,
    fps: float | None,
    theme: str,
    out_dir: Path,
    name: str | None,
    preset: str,
    webm: bool,
    jobs: int | None,
    quiet: bool,
    no_wait: bool,
    voicing: dict[str, Any],
) -> None:
    from descent.lesson import render_lesson

    try:
        with _rendering(out_dir):
            result = render_lesson(
                config,
                script=script_file,
                chapters=chapters,
                quality=quality,
                fps=fps,
                theme=theme,
                out_dir=out_dir,
                name=name or "lesson",
                preset=preset,
                webm=webm,
                jobs=jobs,
                progress=not quiet,
                wait=not no_wait,
                notify=_notify,
                **voicing,
            )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _out(
        f"rendered a {result.duration:.1f} s lesson in {len(result.chapters)} chapters, {result.frames} frames "
        f"({result.width}x{result.height}, {result.fps:g} fps) in {result.seconds:.1f} s"
    )
    for p in result.paths:
        _out(f"wrote {printable(str(p))}")


@cli.command("script")
@click.argument("scene", type=click.Choice(list(SCENES)), default="lesson")
@training_options(multiple_lr=True)
@click.option("--chapters", default=None, metavar="N[,N]", help="lesson: only these chapters (numbers or names).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "md"]),
    default="json",
    show_default=True,
    help="json to edit (and render with --script), md to read from or record.",
)
def script_cmd(scene: str, config_file: Path | None, chapters: str | None, fmt: str, **options: Any) -> None:
    """Print the narration script of SCENE: one line per beat, every number from the runs.

    Each line has an id (a take for --voice DIR is named by it), its chapter, its
    text and its length in seconds. For the lesson, edit the texts (keep the ids)
    and render with `descent render lesson --script FILE`; a clip (fit, surface,
    compare) speaks three lines: clip.start, clip.descent, clip.end.
    """
    from descent.scenes.script import ScriptError, clip_script, lesson_script, select_chapters

    if SCENES[scene].lesson:
        from descent.lesson import lesson_runs

        lrs = options.pop("lr") or ()
        if len(lrs) > 1:
            raise UserError("the lesson trains its own comparison: give one --lr")
        config = config_from_options(config_file, {**options, "lr": lrs[0] if lrs else None})
        try:
            keys = {c.key for c in select_chapters(chapters)}
            script = lesson_script(lesson_runs(config)).only(keys)
        except ScriptError as exc:
            raise UserError(str(exc)) from None
    else:
        if chapters is not None:
            raise UserError("--chapters is an option of the lesson")
        script = clip_script(_render_traces(scene, (), config_file, options))
    _out((script.to_json() if fmt == "json" else script.to_markdown()).rstrip("\n"))


@cli.command("batch")
@training_options(multiple_lr=True)
@click.option(
    "--lr-range",
    default=None,
    metavar="LO:HI:N",
    help="N learning rates spaced on a log scale from LO to HI (instead of --lr).",
)
@click.option(
    "--scene",
    type=click.Choice([name for name, spec in SCENES.items() if not spec.many_runs]),
    default="fit",
    show_default=True,
    help="The scene each variant renders.",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(1, 64), default=None, help="Worker processes.  [default: the number of cores]"
)
@click.option(
    "--sweep",
    "sweeps",
    multiple=True,
    metavar="KEY=V1,V2,…",
    help="Vary any training key (optimizer, momentum, batch_size, w0, …) or theme, quality, scene; "
    "repeat for the cartesian product.",
)
@click.option(
    "--compare-by",
    default=None,
    metavar="KEY",
    help="The swept key each comparison clip compares along.  [default: the first swept key]",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="local:N|tcp://HOST:PORT",
    help="Render on a Dask cluster (pip install 'descent[cluster]') instead of local worker processes.",
)
@click.option("--force", is_flag=True, help="Render every variant, even unchanged ones.")
@click.option("--no-compare", is_flag=True, help="Skip the comparison clip and the loss plot.")
@click.option("--webm", is_flag=True, help="Also write VP9 WebM versions.")
@click.option("--gif", is_flag=True, help="Also write palette-optimised GIFs.")
@click.option(
    "--gif-max-mb", type=FiniteFloat(min=0.1, max=500), default=8.0, show_default=True, help="Size cap of each GIF."
)
@click.option(
    "--voice",
    "batch_voice",
    type=click.Choice(["espeak"]),
    default=None,
    help="Narrate each variant's clip with espeak-ng (its captions become what is said).",
)
@click.option("--voice-name", "batch_voice_name", default=None, help="espeak-ng voice.  [default: en-us]")
@click.option(
    "--voice-rate",
    "batch_voice_rate",
    type=click.IntRange(80, 450),
    default=None,
    help="espeak words a minute.  [default: 160]",
)
@render_options(out_dir="media/batch")
def batch_cmd(
    config_file: Path | None,
    lr_range: str | None,
    scene: str,
    jobs: int | None,
    sweeps: tuple[str, ...],
    compare_by: str | None,
    scheduler: str | None,
    force: bool,
    no_compare: bool,
    webm: bool,
    gif: bool,
    gif_max_mb: float,
    batch_voice: str | None,
    batch_voice_name: str | None,
    batch_voice_rate: int | None,
    quality: str,
    fps: float | None,
    theme: str,
    out_dir: Path,
    name: str | None,
    preset: str,
    seconds_per_step: float | None,
    descent_seconds: float | None,
    quiet: bool,
    no_wait: bool,
    **options: Any,
) -> None:
    """Render a sweep in parallel, comparison clips and a gallery.

    Each variant is named from the keys that vary (fit_lr0.1.mp4,
    fit_optimizer-adam_lr0.1.mp4, …). Reruns render only new or changed
    variants (see OUT_DIR/manifest.json); open OUT_DIR/index.html for the
    course-page gallery. Default: the lab's two learning rates, 0.1 and 0.2,
    into media/batch.
    """
    global _FAST_EXIT
    _FAST_EXIT = False  # worker processes: let multiprocessing clean up on the way out
    from descent.batch import BatchOptions, parse_sweep, plan_batch
    from descent.batch import lr_range as parse_range
    from descent.scenes.helpers import safe_name

    lrs = list(options.pop("lr") or ())
    if options.pop("show", None):
        raise UserError("--show is an option of 'descent render', not of batch")
    if lr_range and lrs:
        raise UserError("give either --lr or --lr-range, not both")
    sweep: dict[str, list] = {}
    for spec in sweeps:
        key, values = parse_sweep(spec)
        if key in sweep:
            raise UserError(f"--sweep {key} is given twice; list its values once")
        sweep[key] = values
    for key, given in (("lr", lrs or lr_range), ("scene", scene != "fit")):
        if key in sweep and given:
            raise UserError(f"--sweep {key} and --{key} both give {key}; use one of them")
    lrs = parse_range(lr_range) if lr_range else lrs
    base_lr = {}
    if sweep and len(lrs) == 1:  # with other keys swept, one --lr sets the rate of every variant
        base_lr, lrs = {"lr": lrs[0]}, []
    elif not sweep and not lrs:
        lrs = [0.1, 0.2]
    base = config_from_options(config_file, {**options, **base_lr})
    if scheduler is not None and jobs is not None:
        raise UserError("--jobs is for the local pool; a --scheduler's workers are its own")
    if batch_voice is None and (batch_voice_name or batch_voice_rate):
        raise UserError("--voice-name and --voice-rate go with --voice")
    opts = BatchOptions(
        base=base,
        scene=scene,
        quality=quality,
        fps=fps,
        theme=theme,
        preset=preset,
        scene_options=tuple(
            sorted(
                scene_options_from({"seconds_per_step": seconds_per_step, "descent_seconds": descent_seconds}).items()
            )
        ),
        webm=webm,
        gif=gif,
        gif_max_bytes=int(gif_max_mb * 1e6),
        prefix=safe_name(name) if name else None,
        voice=batch_voice,
        voice_name=batch_voice_name or "en-us",
        voice_rate=batch_voice_rate or 160,
    )
    lrs = list(dict.fromkeys(lrs))  # the same rate twice is one variant
    plan = plan_batch(lrs or None, opts, sweep, compare=not no_compare, compare_by=compare_by)
    if plan.sweep_keys == ["lr"]:
        rates = [v.config.lr for v in plan.variants]
        header = f"batch of {len(rates)} learning rates ({', '.join(f'{lr:.7g}' for lr in rates)}) into {out_dir}"
    else:
        header = f"batch of {len(plan.variants)} variants ({' × '.join(plan.sweep_keys)}) into {out_dir}"
    _run_plan_cmd(plan, out_dir, header, jobs=jobs, scheduler=scheduler, force=force, quiet=quiet, no_wait=no_wait)


def _run_plan_cmd(
    plan,
    out_dir: Path,
    header: str,
    *,
    jobs: int | None,
    scheduler: str | None,
    force: bool,
    quiet: bool,
    no_wait: bool,
) -> None:
    """Run a planned batch or course and print its table (``descent batch`` and ``descent build``).

    A ``--scheduler`` is reached (and its workers' versions checked) first: if it fails, one line, nothing else.
    """
    from descent.batch import run_plan
    from descent.outputs.clip import RenderError

    executor = None
    if scheduler is not None:
        from descent.executors import connect

        try:
            executor = connect(scheduler)
        except RenderError as exc:
            raise UserError(str(exc)) from None
    click.echo(printable(header))
    with _rendering(out_dir):
        result = run_plan(
            plan,
            out_dir=out_dir,
            jobs=jobs,
            scheduler=executor,
            force=force,
            progress=not quiet,
            wait=not no_wait,
            notify=_notify,
        )
    click.echo("")
    lr_only = result.sweep_keys == ["lr"]
    click.echo(f"{'lr':>8}  {'steps':>6}  {'final loss':>11}  {'diverged':>9}  {'seconds':>8}  files")
    for row in result.rows:
        div = "-" if row.get("diverged_at") is None else f"at {row['diverged_at']}"
        secs = "cached" if row.get("status") == "unchanged" else f"{row['seconds']:.1f}"
        shown = " ".join(sorted(row["files"].values())) if lr_only else f"{row['files']['mp4']} (+ its files)"
        click.echo(
            printable(f"{row['lr']:>8.7g}  {row['steps']:>6d}  {row['final_loss']:>11.4g}  {div:>9}  {secs:>8}  ")
            + printable(shown)
        )
    for f in result.failures:
        kept = " (its previous version is kept)" if f.get("kept") else ""
        click.echo(printable(f"{'FAILED':>8}  {f['name']}: {f['reason']}{kept}"))
    if result.skipped:
        click.echo(f"{result.skipped} unchanged variant(s) not rendered again (--force renders them)")
    for compare in result.compares:
        click.echo(
            printable(f"comparison: {out_dir / compare['files']['mp4']}, loss plot: {out_dir / compare['loss_plot']}")
        )
    if result.gallery:
        click.echo(f"gallery: {result.gallery}")
    if result.failures:
        raise SystemExit(1)


@cli.command("watch")
@click.argument("config_file", metavar="[CONFIG.toml]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trace",
    "trace_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Watch a saved trace instead of a config (repeat for compare).",
)
@click.option(
    "--scene",
    type=click.Choice([n for n, spec in SCENES.items() if not spec.lesson]),
    default="fit",
    show_default=True,
    help="The scene to render.",
)
@render_options
@click.option("--frames", "key_frames", is_flag=True, help="Write the poster and key frames as PNG, no video.")
@click.option("--open", "open_player", is_flag=True, help="Open the clip in the desktop's player (xdg-open), once.")
def watch_cmd(
    config_file: Path | None,
    trace_files: tuple[Path, ...],
    scene: str,
    quality: str,
    fps: float | None,
    theme: str,
    out_dir: Path,
    name: str | None,
    preset: str,
    seconds_per_step: float | None,
    descent_seconds: float | None,
    quiet: bool,
    no_wait: bool,
    show: tuple[str, ...] | None,
    key_frames: bool,
    open_player: bool,
) -> None:
    """Render CONFIG.toml now and again on every save, until Ctrl-C.

    Torch and Manim are imported once; each save trains and renders again in a fresh
    child process, replaces the clip (NAME.mp4, .png, .json; default NAME: the
    config file's name) in place, and prints what changed and how long it took. A bad
    edit prints its one-line error and the watch goes on.
    """
    from descent.watch import WatchSpec, watch

    if (config_file is None) == (not trace_files):
        raise UserError("give a CONFIG.toml to watch, or --trace files (not both)")
    if config_file is not None and SCENES[scene].many_runs:
        raise UserError(f"the {scene} scene draws several runs: watch their --trace files")
    for p in [config_file, *trace_files] if config_file else trace_files:
        if not p.is_file():
            raise UserError(f"no file {str(p)!r} to watch")
    if show:
        _check_show(scene)
    spec = WatchSpec(
        config_file=config_file,
        trace_files=trace_files,
        scene=scene,
        name=name,
        frames=key_frames,
        open_player=open_player,
        render={
            "quality": quality,
            "fps": fps,
            "theme": theme,
            "out_dir": out_dir,
            "preset": preset,
            "progress": not quiet,
            "scene_options": scene_options_from(
                {"seconds_per_step": seconds_per_step, "descent_seconds": descent_seconds, "show": show}
            ),
            "wait": not no_wait,
        },
    )
    from descent.outputs.clip import RenderError

    try:
        code = watch(spec, out=lambda line: _out(printable(line)), say=lambda line: _say(printable(line)))
    except RenderError as exc:  # a second watcher of the folder, a file descent cannot prove it wrote
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot watch: {exc.strerror or exc}") from None
    raise SystemExit(code)


@cli.command("build")
@click.argument("course", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the clips, the manifest and the gallery go.  [default: media/COURSE's stem]",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(1, 64), default=None, help="Worker processes.  [default: the number of cores]"
)
@click.option(
    "--scheduler",
    default=None,
    metavar="local:N|tcp://HOST:PORT",
    help="Render on a Dask cluster (pip install 'descent[cluster]') instead of local worker processes.",
)
@click.option("--force", is_flag=True, help="Render every clip, even unchanged ones.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--no-wait", is_flag=True, help="If another run is writing to --out-dir, exit (code 2) naming it.")
def build_cmd(
    course: Path,
    out_dir: Path | None,
    jobs: int | None,
    scheduler: str | None,
    force: bool,
    quiet: bool,
    no_wait: bool,
) -> None:
    """Render every clip of a course file into one folder, with one manifest and one gallery.

    COURSE.toml has [defaults] (any training or render key) and one [[clip]]
    per clip: its name, its keys, an optional sweep = { key = [values] },
    scene = "compare" for a comparison clip. Resumable like batch: a rerun
    renders only what is new or changed. See examples/lab.toml.
    """
    global _FAST_EXIT
    _FAST_EXIT = False  # worker processes: let multiprocessing clean up on the way out
    from descent.course import load_course, plan_course
    from descent.scenes.helpers import safe_name

    if scheduler is not None and jobs is not None:
        raise UserError("--jobs is for the local pool; a --scheduler's workers are its own")
    plan = plan_course(load_course(course))
    out = out_dir if out_dir is not None else Path("media") / safe_name(course.stem)
    header = f"course {course.name}: {len(plan.variants)} clip(s), {len(plan.compares)} comparison(s) into {out}"
    _run_plan_cmd(plan, out, header, jobs=jobs, scheduler=scheduler, force=force, quiet=quiet, no_wait=no_wait)


def main() -> None:
    """Console-script entry point.

    Ends the process without the interpreter's slow teardown of torch and
    manim (about a second) once every file is written and closed.
    """
    import os
    import signal

    def on_term(signum, frame):  # kill/timeout: clean up like Ctrl-C (temporary folders go)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        cli(prog_name="descent")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for stream in (sys.stdout, sys.stderr):  # None when closed (>&-); a full disk may fail only now
        try:
            if stream is not None:
                stream.flush()
        except OSError:
            code = code or 2
    if _FAST_EXIT:
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
