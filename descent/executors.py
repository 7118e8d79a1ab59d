"""Where a batch's variants render: the local pool, or a Dask cluster.

Both executors take the same jobs (one dict per variant, with the work folder it is staged in)
and report each one, as it ends, to the same callback ``on_done(status, name, payload)``; the
batch (:mod:`descent.batch`) names, resumes, reports and publishes in one code path.

- :class:`descent.batch.WorkerPool`: long-lived local worker processes (the default).
- :class:`DaskExecutor`: a Dask cluster, ``local:N`` (a ``LocalCluster`` of N worker processes,
  one thread each) or ``tcp://HOST:PORT`` (a running scheduler). Workers need no shared file
  system: a task renders into a temporary folder of its own on the worker and returns the finished
  files' bytes with the variant's row; the client writes them into the job's work folder and the
  batch publishes them as it does the local pool's.

Start a cluster on several machines (each with the same versions of descent, manim and torch)::

    dask scheduler                                                  # on one machine: tcp://HOST:8786
    dask worker tcp://HOST:8786 --nthreads 1 --preload descent.executors   # on each worker machine
    descent batch --sweep optimizer=sgd,momentum,adam --scheduler tcp://HOST:8786

Dask is an optional dependency: ``pip install 'descent[cluster]'``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from descent._version import versions
from descent.outputs import files as fs
from descent.outputs.files import RenderError, is_plain_name

__all__ = ["Executor", "DaskExecutor", "connect", "parse_scheduler", "CHECKED_PACKAGES", "dask_setup"]

#: The packages whose versions must match between the client and every worker.
CHECKED_PACKAGES = ("descent", "manim", "torch")
#: Seconds to reach a scheduler (and for a new LocalCluster's workers to start).
CONNECT_TIMEOUT = 20.0
#: Seconds to fetch a finished task's files before looking again (its worker may have died meanwhile).
RESULT_TIMEOUT = 60.0
#: How many times a task may be on a worker that dies before it is reported as failed (1: retried once).
ALLOWED_FAILURES = 1
#: glibc's mallopt(3) parameters, and the trim threshold Dask's nanny gives its workers.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_DASK_TRIM = "65536"


class Executor(Protocol):
    """What the batch needs from an executor."""

    workers: int  # how many variants render side by side
    encoder_threads: int | None  # x264 threads per render (None: x264 decides)

    def run(self, jobs: Sequence[dict], on_done: Callable[[str, str, dict], None]) -> None:
        """Run every job; call ``on_done("ok" | "error", name, row | {"reason": …})`` for each as it ends."""

    def stop(self) -> None:
        """Stop (or cancel) what is still running."""


def parse_scheduler(spec: str) -> tuple[str, int | str]:
    """``"local:N"`` → ("local", N); ``"tcp://HOST:PORT"`` → ("tcp", the address).

    >>> parse_scheduler("local:2"), parse_scheduler("tcp://10.0.0.5:8786")
    (('local', 2), ('tcp', 'tcp://10.0.0.5:8786'))
    """
    if spec.startswith("local:"):
        n = spec[len("local:") :]
        if not (n.isascii() and n.isdigit()) or not 1 <= int(n) <= 64:  # not "２" (a digit to Python)
            raise RenderError(f"--scheduler local:N takes N from 1 to 64 workers (got {spec!r})")
        return "local", int(n)
    if spec.startswith("tcp://"):
        host, _, port = spec[len("tcp://") :].rpartition(":")
        if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise RenderError(f"--scheduler takes tcp://HOST:PORT (got {spec!r})")
        return "tcp", spec
    raise RenderError(f"--scheduler takes local:N or tcp://HOST:PORT (got {spec!r})")


# -- the worker side -------------------------------------------------------------------------
def dask_setup(worker: object = None) -> None:
    """Dask preload hook (``dask worker --preload descent.executors``): prepare this worker once
    (:func:`descent.outputs.warm.warm_process`), and use one torch thread (the cluster's parallelism
    is its workers)."""
    from descent.outputs.warm import warm_process

    if not getattr(dask_setup, "done", False):
        _restore_malloc()
        warm_process()  # imports, kept text outlines, the collector off what was imported (as the local pool)
        dask_setup.done = True
    import torch

    torch.set_num_threads(1)


def _restore_malloc() -> None:
    """Undo, in this worker, the ``MALLOC_TRIM_THRESHOLD_`` Dask's nanny sets (64 KiB, to give memory back).

    With that variable set, glibc also stops raising its mmap threshold, so every frame buffer is mapped
    and unmapped again: a render spent 4× the system time in page faults and took about 35 % longer.
    This puts back the ceilings glibc's adaptive thresholds reach (mmap above 32 MiB, trim above 64 MiB).
    """
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") != _DASK_TRIM or not sys.platform.startswith("linux"):
        return  # not set, or set to something else by the user: theirs to decide
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)


def _worker_versions() -> dict[str, str]:
    """On a worker: the versions it would render with."""
    from descent._version import versions as here

    return here()


def remote_render(job: dict) -> dict:
    """On a worker: render one variant in a temporary folder of its own and return its files' bytes.

    Returns ``{"row": row, "blobs": {file name: bytes}}``; the folder is gone when it returns.
    """
    from descent.batch import render_variant

    dask_setup()  # a no-op after the preload (imports are cached; one thread)
    tmp = Path(tempfile.mkdtemp(prefix="descent-task-"))
    try:
        work = tmp / "work"
        work.mkdir()
        fs.staging(work).mkdir()
        row = render_variant({**job, "work": str(work)})
        new = fs.staging(work)
        blobs = {name: (new / name).read_bytes() for name in row["files"].values()}
        return {"row": row, "blobs": blobs}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the client side -------------------------------------------------------------------------
def _distributed():
    try:
        import distributed
    except ImportError:
        raise RenderError("--scheduler needs Dask: pip install 'descent[cluster]' (or 'dask[distributed]')") from None
    return distributed


def _quiet_dask() -> None:
    """Dask's own log lines (a restarted worker, a closed comm) are not the user's business: the batch
    reports each variant itself."""
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def connect(spec: str) -> DaskExecutor:
    """Reach the cluster ``spec`` names and check its workers' versions (once, before anything is written).

    Raises :class:`~descent.outputs.files.RenderError` (one line) when the scheduler cannot be reached,
    no worker joins, or a worker has other versions of descent, manim or torch than this machine.
    """
    kind, where = parse_scheduler(spec)
    distributed = _distributed()
    import dask

    _quiet_dask()
    cluster = None
    client = None
    settings = {
        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
        "distributed.logging.distributed": "critical",
        "distributed.worker.daemon": False,
        # one task on a worker at a time: a worker that dies takes only its own task with it
        "distributed.scheduler.worker-saturation": 1.0,
        # a LocalCluster's nanny runs in this process and sets its workers' variables in this process's
        # environment too: not this one (see _restore_malloc; remote workers get it undone there)
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    }
    try:
        with dask.config.set(settings):
            if kind == "local":
                try:
                    cluster = distributed.LocalCluster(
                        n_workers=int(where),
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        memory_limit=0,  # a render's memory is bounded by its frames; no nanny kills it
                        preload=["descent.executors"],
                        silence_logs=logging.CRITICAL,
                    )
                except Exception as exc:
                    raise RenderError(f"cannot start a local Dask cluster: {_why(exc)}") from None
                client = distributed.Client(cluster, timeout=CONNECT_TIMEOUT)
                n = int(where)
            else:
                try:
                    client = distributed.Client(where, timeout=CONNECT_TIMEOUT)
                except Exception as exc:
                    raise RenderError(f"cannot reach the Dask scheduler at {where}: {_why(exc)}") from None
                n = 0
            try:
                client.wait_for_workers(max(1, n), timeout=CONNECT_TIMEOUT)
            except Exception:
                raise RenderError(f"no Dask worker joined the scheduler at {client.scheduler.address}") from None
            found = client.run(_worker_versions)
            _check_versions(found)
            if kind == "tcp":
                client.run(dask_setup)  # workers started without --preload import torch and Manim now
                n = len(found)
        return DaskExecutor(client, cluster, n, encoder_threads=_encoder_threads(n) if kind == "local" else None)
    except BaseException:
        with contextlib.suppress(Exception):
            if client is not None:
                client.close()
        with contextlib.suppress(Exception):
            if cluster is not None:
                cluster.close()
        raise


def _encoder_threads(n: int) -> int | None:
    from descent.batch import encoder_threads

    return encoder_threads(n)


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return fs.printable(text[:200])


def _check_versions(found: dict[str, dict]) -> None:
    """Every worker renders with this machine's descent, manim and torch (else its clips would differ)."""
    here = versions()
    for address, theirs in sorted(found.items()):
        for pkg in CHECKED_PACKAGES:
            if theirs.get(pkg) != here.get(pkg):
                raise RenderError(
                    f"the Dask worker {address} has {pkg} {theirs.get(pkg)} but this machine has {pkg} "
                    f"{here.get(pkg)}; install the same versions everywhere"
                )


class DaskExecutor:
    """Jobs as Dask tasks; each task's files come back as bytes and are staged in the job's work folder."""

    def __init__(self, client: Any, cluster: Any, workers: int, encoder_threads: int | None = None) -> None:
        self.client = client
        self.cluster = cluster
        self.workers = max(1, workers)
        self.encoder_threads = encoder_threads
        self.futures: dict = {}

    def run(self, jobs: Sequence[dict], on_done: Callable[[str, str, dict], None]) -> None:
        distributed = _distributed()
        by_key = {}
        for job in jobs:
            remote = {k: v for k, v in job.items() if k not in ("work", "out_dir")}  # the worker's paths are its own
            fut = self.client.submit(remote_render, remote, key=f"descent-{job['name']}-{os.urandom(4).hex()}")
            self.futures[fut.key] = fut
            by_key[fut.key] = job
        idle_since: float | None = None
        while self.futures:
            try:
                done = distributed.wait(list(self.futures.values()), timeout=2, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            ended = 0
            for fut in done:
                job = by_key[fut.key]
                status, payload = self._collect(fut, job)
                if status == "pending":  # its result was lost with its worker after wait() saw it: it runs again
                    continue
                self.futures.pop(fut.key, None)
                on_done(status, job["name"], payload)
                ended += 1
            if ended:
                idle_since = None
                continue
            # no worker left (all died and none came back): report what is outstanding, never wait forever
            if self._live_workers() > 0:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > max(CONNECT_TIMEOUT, 120.0):  # a restart may be slow
                for key in list(self.futures):
                    on_done("error", by_key[key]["name"], {"reason": "no Dask worker is left to run it"})
                self.stop()
                return

    def _live_workers(self) -> int:
        try:
            return len(self.client.scheduler_info().get("workers", {}))
        except Exception:
            return 0

    def _collect(self, fut: Any, job: dict) -> tuple[str, dict]:
        """The task's row, its files written into the job's work folder; or why not."""
        distributed = _distributed()
        from descent.batch import _reason

        # fetched at once: a result left on a worker that dies is lost (and the task run again). The worker
        # may die between wait() and here: the future is pending again, and result() would wait for a rerun
        # that never comes if no worker is left; the run loop waits for it instead (and notices that).
        if fut.status not in ("finished", "error", "cancelled"):
            return "pending", {}
        try:
            result = fut.result(timeout=RESULT_TIMEOUT)
        except distributed.KilledWorker:
            fut.release()
            return "error", {"reason": f"worker died (the task was tried {ALLOWED_FAILURES + 1} times)"}
        except TimeoutError:
            return "pending", {}
        except Exception as exc:  # the task raised (its own exception) or was lost
            fut.release()
            return "error", {"reason": _reason(exc)}
        with contextlib.suppress(Exception):
            fut.release()  # the bytes leave the worker's memory
        try:
            new = fs.staging(Path(job["work"]))
            names = set(result["row"]["files"].values())
            if set(result["blobs"]) != names or not all(is_plain_name(n) for n in names):
                return "error", {"reason": "a worker returned files the variant does not name"}
            for name, data in result["blobs"].items():
                (new / name).write_bytes(data)
        except OSError as exc:
            return "error", {"reason": f"cannot stage the worker's files: {exc.strerror or exc}"}
        return "ok", result["row"]

    def stop(self) -> None:
        """Cancel every task still outstanding (the workers stay, for the next run on the cluster)."""
        if self.futures:
            with contextlib.suppress(Exception):
                self.client.cancel(list(self.futures.values()), force=True)
            self.futures.clear()

    def close(self) -> None:
        """Let go of the cluster (a LocalCluster's workers stop)."""
        self.stop()
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=10)
