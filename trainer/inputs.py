"""Careful handling of what comes from outside: files to read, values to quote, text to print.

Every file descent reads on a user's say-so (a trace, a TOML config) goes through
:func:`read_limited`: only a regular file, and never more than a cap, so that
``/dev/zero``, ``/dev/urandom``, a FIFO or a multi-gigabyte file is refused at
once instead of being read until the machine runs out of memory. Every piece of
input quoted in a message goes through :func:`brief` (short, one line) and every
line printed goes through :func:`printable` (no terminal control sequences).

Examples
--------
>>> from descent.trainer.inputs import brief, printable
>>> printable("reason: \\x1b[2J\\x1b]0;pwned\\x07done")
'reason: \\\\x1b[2J\\\\x1b]0;pwned\\\\x07done'
>>> len(brief("x" * 1000)) <= 43
True
>>> brief([[[[[[[[1]]]]]]]])
'[[[[[[[...]]]]]]]'
"""

from __future__ import annotations

import errno
import os
import reprlib
import stat
import unicodedata

__all__ = ["InputFileError", "file_kind", "read_limited", "brief", "brief_path", "printable"]


class InputFileError(ValueError):
    """An input file cannot be used: missing, not a regular file, too large or unreadable."""


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, for messages (from ``st_mode``)."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_limited(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, refusing anything else and anything over ``limit`` bytes.

    The file is opened without blocking (a FIFO with no writer does not hang) and
    checked on the open descriptor (no race between a check and the read); then at
    most ``limit + 1`` bytes are read, so a file that grows, or lies about its size,
    still costs at most ``limit``.

    Parameters
    ----------
    path
        The file to read.
    limit
        The most bytes accepted.
    what
        How messages name the file, e.g. ``"trace file"``.

    Raises
    ------
    InputFileError
        One line saying what is wrong, naming the file.
    """
    shown = brief_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputFileError(f"{what} {shown} does not exist") from None
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {shown}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(f"{what} {shown} is {file_kind(st.st_mode)}; descent reads only regular files")
        if st.st_size > limit:
            raise InputFileError(f"{what} {shown} is too large ({_size(st.st_size)}; the limit is {_size(limit)})")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise InputFileError(f"{what} {shown} is too large (over {_size(limit)})")
        return b"".join(chunks)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise InputFileError(f"{what} {shown} is a directory") from None
        raise InputFileError(f"cannot read {what} {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n / 1e6:.3g} MB" if n >= 100_000 else f"{n} bytes"


_REPR = reprlib.Repr()
_REPR.maxlevel = 6
_REPR.maxstring = 60
_REPR.maxother = 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def brief(value: object, limit: int = 40) -> str:
    """A short, one-line, printable ``repr`` of an input value, for error messages.

    Deeply nested or huge values are elided (``reprlib``), never walked whole.
    """
    text = printable(repr(value) if isinstance(value, str) and len(value) <= 4 * limit else _REPR.repr(value))
    return text if len(text) <= limit + 3 else text[: limit - 3] + "..." + text[-3:]


def brief_path(path: str | os.PathLike) -> str:
    """A path quoted as messages show it: ``repr``-escaped, and cut to a sane length."""
    return brief(os.fspath(path), 200)


# bidirectional overrides and isolates reorder what a terminal shows: as unsafe as escapes
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` made safe for a terminal: control characters shown as escapes, never sent.

    Tabs (and newlines, unless ``keep_newlines``) become spaces; every other C0 or
    C1 control character, DEL and bidirectional override becomes a visible
    ``\\xNN`` / ``\\uNNNN`` escape, so an escape sequence in a file name, a TOML key
    or a trace can neither recolour, clear nor retitle the terminal.
    """
    out = []
    for ch in str(text):
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in "\t\n\r\v\f":
            out.append(" ")
        elif ch in _BIDI or unicodedata.category(ch) == "Cc":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
