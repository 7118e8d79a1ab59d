"""The ``descent`` command line: a thin layer of Click over the Python API.

Every error a user can cause ends the same way: one line on stderr saying
what is wrong, exit code 2, nothing written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from trainer import Config, ConfigError, Trace, TraceError, __version__, train

from .options import config_from_options, training_options

__all__ = ["cli", "main", "summary"]


class UserError(click.ClickException):
    """Bad input: reported as one line with exit code 2."""

    exit_code = 2


class DescentGroup(click.Group):
    """A group whose every failure is one line on stderr, never a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra: Any):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("descent: aborted", err=True)
            sys.exit(130)
        except click.ClickException as exc:
            click.echo(f"descent: error: {_one_line(exc.format_message())}", err=True)
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        except (ConfigError, TraceError) as exc:
            click.echo(f"descent: error: {_one_line(str(exc))}", err=True)
            sys.exit(2)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _one_line(msg: str) -> str:
    return " ".join(msg.split())


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
        lines.append(f"  DIVERGED at step {trace.diverged_at}: {trace.diverged_reason}"
                     f" (lr {c.lr:g} vs lr_max {trace.lr_max:.4g}); ran {k} of {c.steps} steps")
    else:
        lines.append(f"  ran {k} steps, no divergence")
    return "\n".join(lines)


@cli.command("train")
@training_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the trace (JSON, schema descent.trace/1) here, atomically.")
def train_cmd(config_file: Path | None, out: Path | None, **options: Any) -> None:
    """Train and print a summary; optionally save the full trace."""
    config = config_from_options(config_file, options)
    trace = train(config)
    if out is not None:
        try:
            trace.save(out)
        except OSError as exc:
            raise UserError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    click.echo(summary(trace))
    if out is not None:
        click.echo(f"wrote {out}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="descent")


if __name__ == "__main__":
    main()
