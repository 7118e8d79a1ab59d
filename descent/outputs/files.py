"""File safety shared by ``descent render`` and ``descent batch``: one writer per folder, work
folders descent can prove it made, clip sets published whole, a full disk named.

The rules, and the mechanism behind each:

* **One run per output folder.** :func:`output_lock` takes a lock (the ``filelock``
  package, ``flock`` on Linux) on ``<out>/.descent.lock`` and writes who holds it
  (pid, host, command) to ``<out>/.descent.lock.holder``. A second run waits,
  saying for whom, or with ``wait=False`` raises :class:`FolderBusy`. Both files
  go when the holder releases the lock.
* **Delete only what descent provably created.** Temporary files live only in
  *work folders*: ``.descent-work-<token>`` holding a marker file
  (``descent-work.json``: the same token, the owner's pid, its start time and
  host). :func:`sweep_stale` removes a work folder only when its marker is
  valid and its owner is dead (on this host); no pattern a user's file could
  match is ever deleted.
* **A clip's files are published as one set.** Everything is staged complete
  in ``<work>/new`` first; then :func:`publish` writes a journal (names, sizes,
  SHA-256) into the work folder, moves the files into place and removes the
  journal. A run that is killed mid-way leaves the journal; the next run rolls
  it forward when every staged file is still present and verified, or rolls it
  back (the old files come back from hard links kept in ``<work>/old``).
* **Manim never sees the user's paths.** :func:`scratch_dir` is a work folder
  under a temporary root whose path has no quotes, backslashes or newlines
  (Manim's partial-movie list does not escape them).
* **Replace only what descent provably wrote.** A set's record proves which files are
  its own: a clip's sidecar lists each file's size and SHA-256 (``checks``) and carries
  its own digest (:func:`sealed_json`, :func:`read_record`); a key frame carries a
  ``tEXt`` chunk with the size and SHA-256 of the rest of the PNG (:func:`mark_png`,
  :func:`png_mark`). :func:`refuse_unproven` refuses, before anything is rendered, a
  file a publication would replace that no record proves is the set's, as written.
* **One watcher per output folder.** :func:`watch_claim` holds ``<out>/.descent.watch.lock``
  (``flock``: the kernel lets go when the holder dies, ``kill -9`` included) for as
  long as a ``descent watch`` runs; a second one is refused, naming the first.
* **A full disk is named.** :func:`disk_guard` turns a write that failed for
  lack of space (ENOSPC/EDQUOT anywhere in the exception chain, or a folder
  left with almost no free space) into :class:`DiskFull`, naming the folder and
  roughly the space needed.

Examples
--------
>>> is_plain_name("fit_lr0.1.mp4"), is_plain_name("../x.mp4"), is_plain_name("javascript:alert(1)")
(True, False, False)
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

__all__ = [
    "RenderError",
    "FolderBusy",
    "NotOurs",
    "DiskFull",
    "Interrupted",
    "WORK_PREFIX",
    "MARKER",
    "JOURNAL",
    "LOCK_NAME",
    "HOLDER_NAME",
    "WATCH_LOCK_NAME",
    "SEAL_KEY",
    "is_plain_name",
    "output_lock",
    "make_work_dir",
    "work_dir",
    "staging",
    "scratch_dir",
    "safe_temp_root",
    "remove_work_dir",
    "sweep_stale",
    "publish",
    "file_check",
    "verify",
    "atomic_write",
    "sealed_json",
    "read_record",
    "read_record_bytes",
    "seal_sidecar",
    "mark_png",
    "png_mark",
    "refuse_unproven",
    "watch_claim",
    "disk_guard",
    "space_needed",
    "signals_deferred",
    "printable",
]

WORK_PREFIX = ".descent-work-"
MARKER = "descent-work.json"
JOURNAL = "publish-journal.json"
LOCK_NAME = ".descent.lock"
HOLDER_NAME = ".descent.lock.holder"
WATCH_LOCK_NAME = ".descent.watch.lock"
#: The key of a sealed record's own SHA-256 (:func:`sealed_json`).
SEAL_KEY = "self_sha256"
#: The largest record (sidecar) or marked PNG read to prove a file is descent's.
MAX_RECORD_BYTES = 256 << 20
_WORK_SCHEMA = "descent.work/1"
_JOURNAL_SCHEMA = "descent.publish/1"
_HEX = frozenset("0123456789abcdef")


class RenderError(RuntimeError):
    """Rendering could not be done (bad output directory, unknown scene, a busy or full folder, …)."""


class FolderBusy(RenderError):
    """Another run holds the output folder's lock (and the caller would not wait)."""


class NotOurs(RenderError):
    """A file a render would replace is not one descent can prove it wrote (nothing was written)."""


class DiskFull(RenderError):
    """A write failed because a folder ran out of space."""

    def __init__(self, folder: Path, needed: int | None, free: int | None) -> None:
        self.folder, self.needed, self.free = Path(folder), needed, free
        need = f"; about {_mb(needed)} needed" if needed else ""
        have = f", {_mb(free)} free" if free is not None else ""
        super().__init__(f"no space left in {printable(str(folder))!r}{need}{have}; nothing was left behind")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: ``published`` names the files that were published before it (whole sets only)."""

    def __init__(self, published: Sequence[str] = ()) -> None:
        self.published = list(published)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if not self.published:
            return "interrupted; nothing was published and nothing was left under a final name"
        more = len(self.published) - 8
        shown = ", ".join(self.published[:8]) + (f" and {more} more" if more > 0 else "")
        return f"interrupted; published before the interrupt, each set whole: {shown}; nothing else was left"


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{max(n, 0) / 1e6:.1f} MB"


def printable(text: str, limit: int = 300) -> str:
    """``text`` without control characters (terminal escapes), cut to ``limit`` characters."""
    out = "".join(ch if ch.isprintable() else "?" for ch in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def is_plain_name(name: object) -> bool:
    """A file name descent itself could have written: letters, digits and ``._-``, not hidden,
    no separator, no scheme (``javascript:``), at most 255 bytes."""
    if not isinstance(name, str) or not name or name[0] in ".-":
        return False
    if len(name.encode("utf-8", "surrogatepass")) > 255:
        return False
    return all(ch.isalnum() or ch in "._-" for ch in name)


# -- processes -----------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of ``pid`` from /proc, or None where /proc has no answer."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        fields = raw[raw.rindex(")") + 2 :].split()
        return fields[0], int(fields[19])
    except (ValueError, IndexError):
        return None


def _host() -> str:
    try:
        return socket.gethostname()
    except OSError:  # pragma: no cover
        return "?"


def _owner_alive(marker: Mapping) -> bool:
    """Whether the process named by ``marker`` may still be running (True when it cannot be told)."""
    if marker.get("host") != _host():
        return True  # another machine's process: it cannot be proven dead from here
    pid = marker["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:  # pragma: no cover
        return True
    st = _proc_stat(pid)
    if st is None:
        return not Path("/proc/self/stat").exists() or Path(f"/proc/{pid}").exists()
    state, start = st
    if state in ("Z", "X", "x"):
        return False  # a zombie writes nothing
    if marker.get("start") is not None and start != marker["start"]:
        return False  # the pid now belongs to another process
    return True


def _own_marker() -> dict:
    st = _proc_stat(os.getpid())
    return {"pid": os.getpid(), "start": st[1] if st else None, "host": _host()}


# -- the lock ------------------------------------------------------------------------------
def _command_line() -> str:
    argv = list(sys.argv)
    if argv:
        argv[0] = os.path.basename(argv[0])
    return printable(" ".join(argv), 160)


_NOFOLLOW_NONBLOCK = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)  # never wait on a FIFO


def _read_holder(folder: Path, name: str = HOLDER_NAME) -> str:
    try:
        fd = os.open(folder / name, os.O_RDONLY | _NOFOLLOW_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return "another process"
            data = json.loads(fh.read(4096))
        pid, command = int(data["pid"]), printable(str(data.get("command", "")), 160)
        host = printable(str(data.get("host", "")), 60)
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    where = f" on {host}" if host and host != _host() else ""
    return f"pid {pid}{where} ({command})" if command else f"pid {pid}{where}"


def _write_holder(folder: Path, token: str) -> None:
    data = {**_own_marker(), "token": token, "command": _command_line(), "since": round(time.time(), 1)}
    try:
        fd = os.open(folder / HOLDER_NAME, os.O_WRONLY | os.O_CREAT | _NOFOLLOW_NONBLOCK, 0o644)
    except OSError:
        return  # who holds the lock is a courtesy to the waiters; a full disk or a symlink does not stop the run
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return  # a FIFO, or a hard link to someone's file: written to, it would hang or destroy that file
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(data).encode())
    except OSError:  # a full disk: an empty note would outlive the run (it names nobody, so nobody removes it)
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), (folder / HOLDER_NAME).lstat()):
                (folder / HOLDER_NAME).unlink()
    finally:
        os.close(fd)


def _remove_holder(folder: Path, token: str) -> None:
    path = folder / HOLDER_NAME
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return
        if json.loads(path.read_bytes()[:4096]).get("token") == token:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


@contextlib.contextmanager
def output_lock(
    folder: str | os.PathLike, *, wait: bool = True, notify: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold ``folder``'s lock for the duration: one descent run per output folder at a time.

    Parameters
    ----------
    wait
        Wait for the holder to finish (saying so once through ``notify``); when False,
        raise :class:`FolderBusy` naming the holder instead.
    notify
        Receives the one-line waiting message (default: stderr).
    """
    import filelock

    folder = Path(folder)
    path = folder / LOCK_NAME
    lock = filelock.FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            holder = _read_holder(folder)
            where = printable(str(folder))
            if not wait:
                raise FolderBusy(
                    f"output directory {where!r} is in use by {holder}; wait for it, or run without --no-wait"
                ) from None
            say = notify or (lambda msg: print(msg, file=sys.stderr, flush=True))
            say(f"descent: waiting for {holder} to finish with {where!r} (one run per folder at a time)")
            lock.acquire()
    except OSError as exc:
        if exc.errno in _FULL_ERRNOS:
            raise DiskFull(folder, None, _free_bytes(folder)) from None
        raise RenderError(f"cannot lock output directory {printable(str(folder))!r}: {exc.strerror or exc}") from None
    token = secrets.token_hex(8)
    _write_holder(folder, token)
    try:
        yield
    finally:
        _remove_holder(folder, token)
        try:  # the lock file goes too, while it is still held (filelock retries on an unlinked inode)
            st = path.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_size == 0:
                path.unlink()
        except OSError:
            pass
        lock.release()


def _take_flock(path: Path) -> int | None:
    """A descriptor of ``path`` (created if need be) holding its ``flock``, or None if another holds it."""
    import fcntl

    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):  # a holder that unlinks the file as it lets go: lock the file that is there
        fd = os.open(path, flags, 0o644)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise OSError(errno.EINVAL, "not a regular file of its own", str(path))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(st, path.lstat()):
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise OSError(errno.EAGAIN, "the lock file keeps changing", str(path))


@contextlib.contextmanager
def watch_claim(folder: str | os.PathLike) -> Iterator[int]:
    """Hold ``folder`` for one ``descent watch`` for the duration (one watcher per output folder).

    The claim is an ``flock`` on ``<folder>/.descent.watch.lock``, which also says who holds
    it (pid, host, command); the kernel releases it when the holder dies, ``kill -9``
    included, so a dead watcher never blocks the next. The renders take the folder's
    :func:`output_lock` as usual. Yields the lock's file descriptor: a process forked
    from the holder closes its copy (:func:`os.close`), so the claim dies with the holder.

    Raises
    ------
    FolderBusy
        Another watcher (alive) holds the folder.
    RenderError
        The lock file cannot be made or locked.
    """
    folder = Path(folder)
    path = folder / WATCH_LOCK_NAME
    where = printable(str(folder))
    try:
        fd = _take_flock(path)
    except OSError as exc:
        if exc.errno in _FULL_ERRNOS:
            raise DiskFull(folder, None, _free_bytes(folder)) from None
        raise RenderError(f"cannot lock output directory {where!r} for watching: {exc.strerror or exc}") from None
    if fd is None:
        holder = _read_holder(folder, WATCH_LOCK_NAME)
        raise FolderBusy(
            f"output directory {where!r} is already watched by {holder}: stop that watch, or choose another --out-dir"
        )
    try:
        with contextlib.suppress(OSError):  # who holds it is a courtesy to the next watcher
            os.ftruncate(fd, 0)
            data = {**_own_marker(), "command": _command_line(), "since": round(time.time(), 1)}
            os.pwrite(fd, json.dumps(data).encode(), 0)
        yield fd
    finally:
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), path.lstat()):
                path.unlink()  # while still locked: a watcher waiting on this inode retries on the new one
        with contextlib.suppress(OSError):
            os.close(fd)


# -- work folders ----------------------------------------------------------------------------
def make_work_dir(parent: str | os.PathLike) -> Path:
    """A new work folder in ``parent`` with its marker (owner: this process) and an empty ``new/``."""
    parent = Path(os.path.abspath(parent))
    token = secrets.token_hex(8)
    path = parent / f"{WORK_PREFIX}{token}"
    try:
        os.mkdir(path, 0o700)
        try:
            marker = {"schema": _WORK_SCHEMA, "token": token, **_own_marker(), "created": round(time.time(), 1)}
            fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(marker))
            os.mkdir(path / "new")
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # created a moment ago, by us
            raise
    except OSError as exc:
        if exc.errno in _FULL_ERRNOS:
            raise DiskFull(parent, None, _free_bytes(parent)) from None
        raise
    return path


def staging(work: Path) -> Path:
    """Where a work folder's files are staged under their final names."""
    return work / "new"


def read_marker(path: Path) -> dict | None:
    """The marker of a work folder descent created, or None if ``path`` is not provably one."""
    name = path.name
    if not name.startswith(WORK_PREFIX):
        return None
    token = name[len(WORK_PREFIX) :]
    if len(token) != 16 or not set(token) <= _HEX:
        return None
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            return None
        fd = os.open(path / MARKER, os.O_RDONLY | _NOFOLLOW_NONBLOCK)  # a FIFO would hang every sweep
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            data = json.loads(fh.read(4097))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != _WORK_SCHEMA or data.get("token") != token:
        return None
    pid, start, host = data.get("pid"), data.get("start"), data.get("host")
    if type(pid) is not int or not 0 < pid < 2**31 or not isinstance(host, str):  # a pid os.kill can take
        return None
    if start is not None and type(start) is not int:
        return None
    return data


def remove_work_dir(path: Path) -> None:
    """Remove a work folder, only if it is provably descent's."""
    if read_marker(path) is not None:
        _remove_marked(path)


def _remove_marked(path: Path) -> None:
    """Remove a marked work folder, its marker last: a removal cut short (kill -9) leaves a
    folder that is still provably descent's, so a later sweep can finish it."""
    try:
        entries = [e for e in os.scandir(path) if e.name != MARKER]
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    with contextlib.suppress(OSError):
        if os.listdir(path) == [MARKER]:  # the marker goes only once nothing else is left
            os.unlink(path / MARKER)
            os.rmdir(path)


@contextlib.contextmanager
def work_dir(parent: str | os.PathLike) -> Iterator[Path]:
    """A work folder in ``parent``, removed on the way out whatever happens."""
    path = make_work_dir(parent)
    try:
        yield path
    finally:
        remove_work_dir(path)


def _path_is_safe(path: str) -> bool:
    return all(ch.isprintable() and ch not in "'\"\\" for ch in path)


def safe_temp_root() -> Path:
    """A writable temporary folder whose path Manim can use (no quotes, backslashes or control characters)."""
    seen = []
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp", os.path.expanduser("~")):
        if not candidate:
            continue
        candidate = os.path.abspath(candidate)
        seen.append(candidate)
        if _path_is_safe(candidate) and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    raise RenderError(
        "no writable temporary folder without quotes, backslashes or newlines in its path "
        f"(tried {', '.join(repr(printable(s)) for s in seen)}); set TMPDIR to one"
    )


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A work folder under :func:`safe_temp_root` for Manim's own media, removed on the way out."""
    root = safe_temp_root()
    sweep_stale(root, recover=False)  # Manim folders of renders that were killed
    with work_dir(root) as path:
        yield path


# -- checks --------------------------------------------------------------------------------------
def file_check(path: str | os.PathLike) -> dict:
    """``{"size", "sha256"}`` of a regular file (a symlink is refused)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        h = hashlib.sha256()
        size = 0
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": h.hexdigest()}


def valid_check(check: object) -> bool:
    """Whether ``check`` has the form of a :func:`file_check` result."""
    return (
        isinstance(check, dict)
        and set(check) == {"size", "sha256"}
        and type(check["size"]) is int
        and check["size"] >= 0
        and isinstance(check["sha256"], str)
        and len(check["sha256"]) == 64
        and set(check["sha256"]) <= _HEX
    )


def verify(folder: Path, name: str, check: Mapping) -> bool:
    """Whether ``folder/name`` is a plain regular file with exactly the recorded size and SHA-256."""
    if not is_plain_name(name) or not valid_check(check):
        return False
    path = folder / name
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size != check["size"]:
            return False
        return file_check(path) == dict(check)
    except OSError:
        return False


# -- publishing a set ----------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` (inside a work folder) atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(data))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def publish(
    out: Path, work: Path, names: Sequence[str], obsolete: Mapping[str, Mapping] | None = None
) -> dict[str, dict]:
    """Move the staged files ``<work>/new/<name>`` to ``<out>/<name>`` as one set.

    Every staged file is checked first; a journal listing the moves is written into the
    work folder; then the files move (old versions kept as hard links until the end);
    then ``obsolete`` files (name → check: files of the set's previous version that the
    new one no longer has) are removed if they still match; the journal goes last. If a
    move fails, the moves already done are undone. Returns each name's check.

    Raises
    ------
    RenderError
        If a name is not a plain file name or a directory has that name in ``out``.
    """
    new, old = staging(work), work / "old"
    checks: dict[str, dict] = {}
    for name in names:
        if not is_plain_name(name):
            raise RenderError(f"refusing to publish {printable(name)!r}: not a plain file name")
        if (out / name).is_dir() and not (out / name).is_symlink():
            raise RenderError(f"cannot write {printable(str(out / name))!r}: a directory has that name")
        _fsync_file(new / name)
        checks[name] = file_check(new / name)
    os.makedirs(old, exist_ok=True)
    moves = []
    for name in names:
        kept = False
        try:
            if stat.S_ISREG((out / name).lstat().st_mode):
                os.link(out / name, old / name)
                kept = True
        except OSError:
            pass  # no old version, or a file system without hard links: this move cannot be undone
        moves.append({"name": name, **checks[name], "kept": kept})
    gone = [
        {"name": n, **c} for n, c in (obsolete or {}).items() if n not in checks and is_plain_name(n) and valid_check(c)
    ]
    _write_json(work / JOURNAL, {"schema": _JOURNAL_SCHEMA, "moves": moves, "obsolete": gone})
    done: list[dict] = []
    try:
        for move in moves:
            _move_in(out, work, move["name"])
            done.append(move)
    except BaseException:
        _undo(out, work, done)
        with contextlib.suppress(OSError):
            (work / JOURNAL).unlink()
        raise
    _fsync_dir(out)
    for f in gone:
        if verify(out, f["name"], {"size": f["size"], "sha256": f["sha256"]}):
            with contextlib.suppress(OSError):
                (out / f["name"]).unlink()
    with contextlib.suppress(OSError):
        (work / JOURNAL).unlink()
    return checks


def _move_in(out: Path, work: Path, name: str) -> None:
    os.replace(staging(work) / name, out / name)


def _undo(out: Path, work: Path, done: Sequence[Mapping]) -> None:
    """Put back what the moves in ``done`` replaced (or remove what they added)."""
    for move in reversed(done):
        name = move["name"]
        if not verify(out, name, {"size": move["size"], "sha256": move["sha256"]}):
            continue  # not the file this set put there: leave it
        with contextlib.suppress(OSError):
            if move.get("kept") and (work / "old" / name).is_file():
                os.replace(work / "old" / name, out / name)
            else:
                (out / name).unlink()


def _read_journal(work: Path) -> dict | None:
    try:
        fd = os.open(work / JOURNAL, os.O_RDONLY | _NOFOLLOW_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            data = json.loads(fh.read(1 << 22))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("schema") != _JOURNAL_SCHEMA:
        return None
    moves, gone = data.get("moves"), data.get("obsolete", [])
    if not isinstance(moves, list) or not isinstance(gone, list):
        return None
    for m in [*moves, *gone]:
        if not isinstance(m, dict) or not is_plain_name(m.get("name")):
            return None
        if not valid_check({"size": m.get("size"), "sha256": m.get("sha256")}):
            return None
    return data


def _recover(work: Path) -> str | None:
    """Finish or undo the publication a dead run left in ``work``; a line saying which, if any."""
    out = work.parent
    journal = _read_journal(work)
    if journal is None:
        return None  # nothing was moved (the journal is written before the first move): the staged files just go
    pending, done, broken = [], [], []
    for move in journal["moves"]:
        check = {"size": move["size"], "sha256": move["sha256"]}
        if verify(staging(work), move["name"], check):
            pending.append(move)
        elif verify(out, move["name"], check):
            done.append(move)
        else:
            broken.append(move)
    names = ", ".join(m["name"] for m in journal["moves"][:4]) + (" …" if len(journal["moves"]) > 4 else "")
    if broken:
        _undo(out, work, done)
        return f"descent: rolled back an interrupted publication in {printable(str(out))!r} ({printable(names)})"
    for move in pending:
        _move_in(out, work, move["name"])
    _fsync_dir(out)
    for f in journal["obsolete"]:
        if verify(out, f["name"], {"size": f["size"], "sha256": f["sha256"]}):
            with contextlib.suppress(OSError):
                (out / f["name"]).unlink()
    return f"descent: completed an interrupted publication in {printable(str(out))!r} ({printable(names)})"


def sweep_stale(folder: str | os.PathLike, recover: bool = True) -> list[str]:
    """Recover and remove the work folders in ``folder`` whose owner is dead.

    Only folders named ``.descent-work-<token>`` holding a valid marker with the same
    token are considered; nothing else in ``folder`` is touched. Returns one line per
    publication that was completed or rolled back. With ``recover`` False (a folder
    whose lock the caller does not hold), a folder holding a journal is left alone.
    """
    folder = Path(folder)
    lines = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(WORK_PREFIX)]
    except OSError:
        return lines
    for entry in entries:
        path = Path(entry.path)
        marker = read_marker(path)
        if marker is None or _owner_alive(marker):
            continue
        if not recover and (path / JOURNAL).exists():
            continue
        try:
            line = _recover(path)
        except OSError:
            continue  # cannot finish it now (e.g. still no space): leave it for the next run
        if line:
            lines.append(line)
        _remove_marked(path)
    return lines


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write one file through a work folder beside it: complete under its name, or not there at all."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    with work_dir(path.parent) as work:
        tmp = staging(work) / "file"
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path


# -- proving a file is descent's -------------------------------------------------------------------
def _seal_token(digest: str) -> bytes:
    return f'"{SEAL_KEY}": "{digest}"'.encode()


def sealed_json(data: Mapping) -> bytes:
    """``data`` as indented JSON that carries its own SHA-256: ``self_sha256``, the digest of
    the file's bytes with that value written as 64 zeros (:func:`read_record` checks it).

    >>> raw = sealed_json({"schema": "x/1"})
    >>> read_record_bytes(raw)[1], read_record_bytes(raw.replace(b"x/1", b"y/1"))[1]
    (True, False)
    """
    body = {k: v for k, v in data.items() if k != SEAL_KEY}
    body[SEAL_KEY] = "0" * 64
    raw = (json.dumps(body, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    if raw.count(_seal_token("0" * 64)) != 1:
        raise ValueError(f"the record holds {SEAL_KEY!r} more than once")
    return raw.replace(_seal_token("0" * 64), _seal_token(hashlib.sha256(raw).hexdigest()))


def read_record_bytes(raw: bytes) -> tuple[dict | None, bool | None]:
    """The JSON object in ``raw`` (None if it is not one) and whether its seal holds
    (None: it has no seal; False: it was changed since it was sealed)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    if SEAL_KEY not in data:
        return data, None
    digest = data[SEAL_KEY]
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
        return data, False
    token = _seal_token(digest)
    if raw.count(token) != 1:
        return data, False
    return data, hashlib.sha256(raw.replace(token, _seal_token("0" * 64))).hexdigest() == digest


def _read_small(path: Path, limit: int = MAX_RECORD_BYTES) -> bytes | None:
    """The bytes of a plain regular file of at most ``limit`` bytes (None: not one, or unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        try:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                return None
            raw = fh.read(limit + 1)
        except OSError:
            return None
    return raw if len(raw) <= limit else None


def read_record(path: str | os.PathLike) -> tuple[dict | None, bool | None]:
    """A record file (a sidecar) as :func:`read_record_bytes` reads it; (None, None) when
    ``path`` is not a plain regular file of at most 256 MB, or cannot be read."""
    raw = _read_small(Path(path))
    return (None, None) if raw is None else read_record_bytes(raw)


def seal_sidecar(sidecar: str | os.PathLike, names: Sequence[str]) -> None:
    """Record in the staged JSON ``sidecar`` the size and SHA-256 of each of ``names`` beside it but
    itself (``checks``), and seal it (:func:`sealed_json`): the proof a clip's set is descent's."""
    sidecar = Path(sidecar)
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    meta["checks"] = {n: file_check(sidecar.parent / n) for n in names if n != sidecar.name}
    with open(sidecar, "wb") as fh:
        fh.write(sealed_json(meta))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MARK = b"descent\0"  # a tEXt chunk's keyword and its separator


def _png_chunks(raw: bytes) -> list[tuple[bytes, int, int]] | None:
    """(type, start, end) of every chunk of a PNG, or None if ``raw`` is not one whole PNG."""
    if not raw.startswith(_PNG_SIGNATURE):
        return None
    out, pos = [], len(_PNG_SIGNATURE)
    while pos < len(raw):
        if pos + 12 > len(raw):
            return None
        end = pos + 12 + int.from_bytes(raw[pos : pos + 4], "big")
        if end > len(raw):
            return None
        out.append((raw[pos + 4 : pos + 8], pos, end))
        pos = end
    return out if out and out[0][0] == b"IHDR" and out[-1][0] == b"IEND" else None


def mark_png(path: str | os.PathLike, record: Mapping) -> None:
    """Mark a PNG descent just wrote (in a work folder) as descent's: a ``tEXt`` chunk
    ``descent`` after the header holds ``record`` and the size and SHA-256 of the file
    without that chunk, which :func:`png_mark` checks."""
    import zlib

    path = Path(path)
    raw = path.read_bytes()
    chunks = _png_chunks(raw)
    if chunks is None:
        raise ValueError(f"{printable(str(path))!r} is not a PNG")
    data = {**record, "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    text = _PNG_MARK + json.dumps(data, sort_keys=True, separators=(",", ":")).encode("ascii")
    chunk = len(text).to_bytes(4, "big") + b"tEXt" + text + zlib.crc32(b"tEXt" + text).to_bytes(4, "big")
    at = chunks[0][2]  # right after IHDR
    with open(path, "wb") as fh:
        fh.write(raw[:at] + chunk + raw[at:])


def png_mark(path: str | os.PathLike) -> dict | None:
    """The record :func:`mark_png` put in a PNG, if the rest of the file is still exactly what
    was marked (None: no mark, a changed file, not a plain regular PNG of at most 256 MB)."""
    raw = _read_small(Path(path))
    chunks = None if raw is None else _png_chunks(raw)
    if chunks is None:
        return None
    marks = [(s, e) for kind, s, e in chunks if kind == b"tEXt" and raw[s + 8 : e - 4].startswith(_PNG_MARK)]
    if len(marks) != 1:
        return None
    start, end = marks[0]
    try:
        data = json.loads(raw[start + 8 + len(_PNG_MARK) : end - 4])
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    check = {"size": data.pop("size", None), "sha256": data.pop("sha256", None)}
    rest = raw[:start] + raw[end:]
    if not valid_check(check) or len(rest) != check["size"] or hashlib.sha256(rest).hexdigest() != check["sha256"]:
        return None
    return data


def refuse_unproven(
    out: Path,
    names: Sequence[str],
    checks: Mapping[str, Mapping] | None = None,
    proven: Callable[[str], bool] | None = None,
    unlisted: str = "no record of the set lists it",
) -> None:
    """Refuse to replace a file descent cannot prove it wrote: raise :class:`NotOurs` for the first
    of ``names`` that exists in ``out`` unless ``checks`` (name → size and SHA-256, from the
    previous set's record) match it exactly, or ``proven(name)`` says it is the set's.

    ``unlisted`` says in the message why a file the checks do not list is not provably descent's.
    """
    checks = checks or {}
    for name in names:
        path = out / name
        if not os.path.lexists(path):
            continue
        if name in checks and verify(out, name, checks[name]):
            continue
        if proven is not None and proven(name):
            continue
        why = "it was changed since descent wrote it" if name in checks else unlisted
        raise NotOurs(
            f"{printable(str(path))!r} is not a file descent can prove it wrote ({why}): choose another --name "
            "or --out-dir, or move the file away (nothing was written)"
        )


# -- a full disk ----------------------------------------------------------------------------------
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_LOW_SPACE = 1 << 20  # under 1 MB free after a failure: the disk is full, whatever the error said


def _free_bytes(folder: Path) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    return blocks * st.f_frsize


def _says_full(exc: BaseException) -> bool:
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        # by errno only (PyAV's errors carry one too); a wrapper that lost it is caught by
        # the free-space measurement in disk_guard, never by matching its message
        if getattr(e, "errno", None) in _FULL_ERRNOS:
            return True
        e = e.__cause__ or e.__context__
    return False


def space_needed(frames: int, width: int, height: int, fps: float, extras: float = 1.0) -> int:
    """Roughly the bytes a clip needs in its folder: the mp4 (and WebM/GIF: ``extras`` mp4s more), poster, sidecar."""
    seconds = frames / max(fps, 1e-9)
    mp4 = seconds * (20_000 + 0.02 * width * height)
    return int(mp4 * (1 + extras) + 0.4 * width * height + 200_000)


@contextlib.contextmanager
def disk_guard(folders: Sequence[Path], needs: Mapping[Path, int] | None = None) -> Iterator[None]:
    """Turn a failure for lack of space in one of ``folders`` into :class:`DiskFull`.

    ``needs`` (folder → bytes, filled in by the caller as it learns them) sizes the
    message. Use it inside the work folders' own context managers, so free space is
    measured before the staged files are removed.
    """
    try:
        yield
    except (RenderError, KeyboardInterrupt):
        raise
    except Exception as exc:
        needs = needs or {}
        said = _says_full(exc)
        frees = [(folder, _free_bytes(folder)) for folder in folders]
        for folder, free in frees:  # the first folder left (almost) without space is the one to name
            if free is not None and (free < _LOW_SPACE or (said and needs.get(folder) and free < needs[folder])):
                raise DiskFull(folder, needs.get(folder), free) from exc
        if said:
            folder, free = frees[0]
            raise DiskFull(folder, needs.get(folder), free) from exc
        raise


# -- signals ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done (a set of moves is never split by them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    sigs = [signal.SIGINT, *([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])]
    old = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if pending:
            s = pending[0]
            h = old[s]
            if callable(h):
                h(s, None)
            elif h == signal.SIG_DFL:
                if s == signal.SIGINT:
                    raise KeyboardInterrupt
                os.kill(os.getpid(), s)
