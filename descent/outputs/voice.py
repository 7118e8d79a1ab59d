"""Narration audio: script lines made speakable, spoken by espeak-ng or read from the lecturer's takes, mixed,
loudness normalised and muxed beside a video stream.

The pieces, in the order a narrated render uses them:

- :func:`speech_text` turns a caption line (``ŷ = w·x + b``, ``λ_max``, ``1.90e7``) into words a
  synthesiser reads well (``y hat equals w times x plus b``, ``lambda max``, ``1.90 times 10 to the 7``).
- :func:`synthesize` speaks lines with espeak-ng (offline, one WAV per line id), or
  :func:`find_takes` finds the lecturer's own recordings (``ID.wav``, ``.flac``, ``.mp3`` or ``.m4a``).
- :func:`load_take` decodes one file to mono float32 samples (PyAV), refusing silent or unreadable files.
- :func:`mix` places each clip at its start time in one buffer as long as the video.
- :func:`loudness_normalise` brings the mix to one loudness target (FFmpeg's ``loudnorm``, about −16 LUFS).
- :func:`mux_audio` copies a video stream as it is (no re-encode, same timestamps, chapters kept) and adds
  the audio: AAC in an mp4, Opus in a WebM.

Every problem with the input is a :class:`VoiceError` with a one-line message.

Examples
--------
>>> from descent.outputs.voice import speech_text
>>> speech_text("The model is a line as well, ŷ = w·x + b.")
'The model is a line as well, y hat equals w times x plus b.'
>>> speech_text("lr_max = 2 / λ_max = 0.333, and the cost grows to 1.90e7.")
'l r max equals 2 over lambda max equals 0.333, and the cost grows to 1.90 times 10 to the 7.'
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unicodedata
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from descent.trainer.inputs import brief, brief_path, file_kind, printable

from .encode import AAC_OPTIONS

__all__ = [
    "speak",
    "VoiceError",
    "speech_text",
    "synthesize",
    "find_takes",
    "load_take",
    "mix",
    "loudness_normalise",
    "integrated_loudness",
    "mux_audio",
    "TAKE_FORMATS",
    "SAMPLE_RATE",
    "MAX_TAKE_BYTES",
    "MAX_TAKE_SECONDS",
    "SILENCE_DBFS",
]

#: The sample rate of everything this module produces (and of the audio in the outputs).
SAMPLE_RATE = 48000
#: The lecturer's takes: file suffix → the FFmpeg demuxer that reads it (nothing else is probed).
TAKE_FORMATS = {".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".m4a": "mov"}
#: The largest take file accepted, and the longest take.
MAX_TAKE_BYTES = 200 * 1000 * 1000
MAX_TAKE_SECONDS = 600.0
#: A take whose peak stays below this level is silent.
SILENCE_DBFS = -50.0
#: The longest mix (and voiced video) accepted, in seconds.
MAX_MIX_SECONDS = 6 * 3600.0
#: The longest text synthesised for one line (a script line has at most 600 characters).
MAX_SPEECH_CHARS = 4000
#: How many files a takes folder may hold before looking through it is refused.
MAX_FOLDER_ENTRIES = 100_000

_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._]{0,99}")
_SAFE_VOICE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/().-]{0,63}(\+[A-Za-z0-9_.-]{1,32})?")
_INSTALL = "espeak-ng is not installed: sudo apt-get install espeak-ng"


class VoiceError(ValueError):
    """Narration cannot be made from this input; the message is one line."""


# --------------------------------------------------------------------------------------------- speech text

_GREEK = {
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "δ": "delta",
    "ε": "epsilon",
    "ζ": "zeta",
    "η": "eta",
    "θ": "theta",
    "ι": "iota",
    "κ": "kappa",
    "λ": "lambda",
    "μ": "mu",
    "ν": "nu",
    "ξ": "xi",
    "ο": "omicron",
    "π": "pi",
    "ρ": "rho",
    "σ": "sigma",
    "ς": "sigma",
    "τ": "tau",
    "υ": "upsilon",
    "φ": "phi",
    "χ": "chi",
    "ψ": "psi",
    "ω": "omega",
    "ϵ": "epsilon",
    "ϑ": "theta",
    "ϕ": "phi",
}
_GREEK.update({k.upper(): v for k, v in list(_GREEK.items()) if k.upper() != k})

# symbols read as words (spaces around them are tidied afterwards)
_WORDS = {
    "∇": " the gradient of ",
    "∂": " partial ",
    "√": " the square root of ",
    "∑": " the sum of ",
    "∏": " the product of ",
    "∫": " the integral of ",
    "∞": " infinity ",
    "←": " becomes ",
    "⟵": " becomes ",
    "≔": " becomes ",
    ":=": " becomes ",
    "→": " to ",
    "⟶": " to ",
    "⇒": " so ",
    "≈": " is about ",
    "≃": " is about ",
    "∼": " about ",
    "~": " about ",
    "≠": " is not ",
    "≤": " is at most ",
    "≥": " is at least ",
    "<=": " is at most ",
    ">=": " is at least ",
    "<": " is less than ",
    ">": " is greater than ",
    "±": " plus or minus ",
    "×": " times ",
    "∗": " times ",
    "*": " times ",
    "÷": " over ",
    "/": " over ",
    "=": " equals ",
    "+": " plus ",
    "−": " minus ",
    "%": " percent ",
    "‰": " per mille ",
    "°": " degrees ",
    "&": " and ",
    "@": " at ",
    "#": " number ",
    "^": " to the ",
    "|": " ",
    "…": ", ",
    "—": ", ",
    "―": ", ",
    "\\": " ",
    "_": " ",
    '"': " ",
    "“": " ",
    "”": " ",
    "„": " ",
    "«": " ",
    "»": " ",
    "`": " ",
}
_WORDS_RE = re.compile("|".join(re.escape(k) for k in sorted(_WORDS, key=len, reverse=True)))

_SUP = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUP_RE = re.compile(r"([⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
_SUB = str.maketrans("₀₁₂₃₄₅₆₇₈₉₊₋ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼ", "0123456789+-aeoxhklmnpstij")
_SUB_RE = re.compile(r"[₀₁₂₃₄₅₆₇₈₉₊₋ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼ]+")
# 1.90e7, 2e-05, 1.2e−31: a mantissa and a power of ten
_SCI_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+\-−]?)(\d{1,3})(?![\w])(?!\.\d)")
# a caption's combining accents on a symbol: ŷ, x̄, θ̃, ẋ
_ACCENTS = {
    "\u0302": "hat",
    "\u0304": "bar",
    "\u0305": "bar",
    "\u0303": "tilde",
    "\u0307": "dot",
    "\u0308": "double dot",
}
# only on a symbol standing alone: the ï of naïve is a letter of a word, not a symbol
_ACCENT_RE = re.compile(r"(?<![^\W\d_])([^\W\d_])([\u0302\u0304\u0305\u0303\u0307\u0308])(?![^\W\d_])")
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:'-?!")


def _sci(m: re.Match) -> str:
    sign = " minus" if m.group(2) in ("-", "−") else ""
    return f"{m.group(1)} times 10 to the{sign} {int(m.group(3))}"


def _sup(m: re.Match) -> str:
    power = m.group(1).translate(_SUP)
    if power == "2":
        return " squared "
    if power == "3":
        return " cubed "
    return " to the " + power.replace("-", "minus ").replace("+", "")


# words this module itself puts into formulas: a parenthesis holding only these is maths, not prose
_MATH_WORDS = frozenset(
    "star hat bar tilde dot double transpose squared cubed the to minus".split() + list(_GREEK.values())
)


def _parens(m: re.Match) -> str:
    """A parenthesis: a function's argument ``f(x)`` → ``f of x``; prose set off by commas; bare maths unwrapped."""
    head, body = m.group(1), m.group(2)
    if head and len(head) == 1 and body.strip():
        return f"{head} of {body}"
    if any(len(w) > 2 and w.lower() not in _MATH_WORDS for w in re.findall(r"[A-Za-z]+", body)):
        return f"{head}, {body},"
    return f"{head} {body} "


def _fold(ch: str) -> str:
    """One character that is still not speakable: its letters in ASCII if it has any, else a space."""
    if ch in _ALLOWED:
        return ch
    if ch in "’‘ʼ′":
        return "'"
    if ch in "‐‑‒":
        return "-"
    if ch in "–":
        return ", "
    if ch in "·•∙⋅":
        return " times "
    if ch in "([{":
        return ", "
    if ch in ")]}":
        return ", "
    if ch in _GREEK:
        return f" {_GREEK[ch]} "
    ascii_ = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    ascii_ = "".join(c for c in ascii_ if c in _ALLOWED)
    if ascii_.strip():
        return ascii_
    return " "


def speech_text(text: str) -> str:
    """A caption line made speakable: symbols, subscripts and numbers written out as words.

    Plain words are left as they are; what a synthesiser would spell out or skip is
    written the way a lecturer reads it aloud: ``−`` (and the ``-`` of a negative
    number) → ``minus``; ``ŷ`` → ``y hat``; ``λ_max`` → ``lambda max``; ``lr`` →
    ``l r``; ``·`` between symbols → ``times`` (a spaced ``·`` between phrases is a
    pause); ``=`` → ``equals``; ``/`` → ``over``; ``←`` → ``becomes``; ``∇`` → ``the
    gradient of``; ``f(x)`` → ``f of x``; ``L*`` → ``L star``; ``1.90e7`` → ``1.90
    times 10 to the 7`` (and ``e-5`` → ``to the minus 5``); superscripts become
    powers, Greek letters their names. The result holds only ASCII letters, digits,
    spaces and ``.,;:'-?!``; applying the function again changes nothing.

    Parameters
    ----------
    text
        One line of a script or caption.

    Returns
    -------
    str
        The line to hand to a synthesiser, on one line, with single spaces.

    Examples
    --------
    >>> speech_text("Everything starts from a straight line, f(x) = 1·x − 1: its bias −1.")
    'Everything starts from a straight line, f of x equals 1 times x minus 1: its bias minus 1.'
    >>> speech_text("w ← w − lr·∇L, and L* = 1.2e−5")
    'w becomes w minus l r times the gradient of L, and L star equals 1.2 times 10 to the minus 5'
    """
    s = unicodedata.normalize("NFC", str(text))
    s = " ".join(s.split())
    # numbers first, while their digits and signs are still together
    s = _SCI_RE.sub(_sci, s)
    s = _SUP_RE.sub(_sup, s)
    s = s.replace("ᵀ", " transpose ")
    s = _SUB_RE.sub(lambda m: " " + m.group(0).translate(_SUB) + " ", s)
    # accents on symbols (ŷ → y hat), read before anything splits a letter from its mark
    s = _ACCENT_RE.sub(lambda m: f"{m.group(1)} {_ACCENTS[m.group(2)]} ", unicodedata.normalize("NFD", s))
    s = unicodedata.normalize("NFC", s)
    # subscripts written with braces or underscores: w_{k+1} → w k+1, λ_max → λ max
    s = re.sub(r"_\{([^{}]*)\}", r" \1 ", s)
    # Greek letters by name
    s = "".join(f" {_GREEK[c]} " if c in _GREEK else c for c in s)
    # L* (an optimum): a star right after a symbol
    s = re.sub(r"(?<=[A-Za-z0-9])\*(?![\w(])", " star ", s)
    # the learning rate's symbol, spelt out (also in lr_max)
    s = re.sub(r"(?<![A-Za-z])lr(?![A-Za-z])", "l r", s)
    # a middle dot between symbols is a product; one set off by spaces separates two phrases
    s = re.sub(r"\s+[·•∙⋅]\s+", ", ", s)
    s = re.sub(r"[·•∙⋅]", " times ", s)
    # ranges: 1–9 → 1 to 9
    s = re.sub(r"(?<=\d)\s*[–‒]\s*(?=[−\-]?\d)", " to ", s)
    # the minus of a number written with a hyphen: -3, (-0.5, = -2
    s = re.sub(r"(?<![\w.)\]])-(?=\.?\d)", " minus ", s)
    # a hyphen standing alone between terms: x - 1
    s = re.sub(r"(?<=\s)-(?=\s)", " minus ", s)
    # parentheses: step(s) → steps, f(x) → f of x; innermost first
    s = re.sub(r"(?<=[a-z])\(s\)", "s", s)
    for _ in range(4):
        s, k = re.subn(r"(\b[A-Za-z]|)[(\[{]([^()\[\]{}]*)[)\]}]", _parens, s)
        if not k:
            break
    s = _WORDS_RE.sub(lambda m: _WORDS[m.group(0)], s)
    s = "".join(_fold(c) for c in s)
    # tidy: single spaces, no space before punctuation, no comma before other punctuation
    s = " ".join(s.split())
    s = re.sub(r"\s+([.,;:?!])", r"\1", s)
    s = re.sub(r",(?=[.,;:?!])", "", s)
    s = re.sub(r"([;:?!])(?:\s*,)+", r"\1", s)
    s = s.strip(" ,;:")
    return s


# ------------------------------------------------------------------------------------------------ espeak-ng


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise VoiceError(_INSTALL)
    return exe


@functools.lru_cache(maxsize=4)
def _espeak_voices(exe: str) -> tuple[frozenset[str], frozenset[str]]:
    """The voice names espeak-ng accepts (languages, their aliases, voice files) and its variants, lower case."""

    def listing(arg: str) -> list[list[str]]:
        try:
            done = subprocess.run([exe, arg], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise VoiceError(_INSTALL) from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VoiceError(f"espeak-ng {arg} failed: {exc}") from None
        if done.returncode != 0:
            raise VoiceError(f"espeak-ng {arg} failed: {_first_line(done.stderr)}")
        return [ln.split() for ln in done.stdout.decode("utf-8", "replace").splitlines()[1:] if ln.strip()]

    names: set[str] = set()
    for cols in listing("--voices"):
        # Pty Language Age/Gender VoiceName File (other-language priority)...
        if len(cols) >= 5:
            names.update(c.lower() for c in (cols[1], cols[4]))
            names.update(c.strip("(").lower() for c in cols[5:] if c.startswith("("))
    variants: set[str] = set()
    for cols in listing("--voices=variant"):
        if len(cols) >= 5:
            variants.add(cols[4].rpartition("/")[2].lower())
            variants.add(cols[3].lower())
    return frozenset(names), frozenset(variants)


def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            line = printable(line.strip())
            return line if len(line) <= 200 else line[:197] + "..."
    return "no message"


def _check_voice(exe: str, voice: str) -> None:
    if not isinstance(voice, str) or not _SAFE_VOICE.fullmatch(voice):
        raise VoiceError(f"unknown espeak-ng voice {brief(voice)} (see espeak-ng --voices)")
    names, variants = _espeak_voices(exe)
    base, _, variant = voice.partition("+")
    if base.lower() not in names:
        raise VoiceError(f"unknown espeak-ng voice {brief(voice)} (see espeak-ng --voices)")
    if variant and variant.lower() not in variants:
        raise VoiceError(
            f"unknown espeak-ng voice variant {brief(variant)} in {brief(voice)} (see espeak-ng --voices=variant)"
        )


def _check_ids(ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for line_id in ids:
        if not isinstance(line_id, str) or not _SAFE_ID.fullmatch(line_id) or ".." in line_id:
            raise VoiceError(f"line id {brief(line_id)} is not a plain file name (letters, digits, '.', '_')")
        if line_id in seen:
            raise VoiceError(f"line id {line_id} is listed twice")
        seen.add(line_id)


def synthesize(
    lines: Sequence[tuple[str, str]], out_dir: Path, *, voice: str = "en-us", rate: int = 160
) -> dict[str, Path]:
    """Speak each line with espeak-ng into ``out_dir/ID.wav``.

    Each text goes through :func:`speech_text` first (harmless if it already did) and
    reaches espeak-ng on its standard input, never through a shell. Each file is
    written under a temporary name and renamed when complete; if any line fails,
    the files this call wrote are removed again.

    Parameters
    ----------
    lines
        ``(id, text)`` pairs; each id is a plain file name (letters, digits, ``.``, ``_``).
    out_dir
        The folder for the WAV files (made if missing, and removed again if this call fails);
        existing files of those names are replaced.
    voice
        An espeak-ng voice (``espeak-ng --voices``), optionally with a variant: ``en-us``, ``en-gb+f3``.
    rate
        Speaking rate in words a minute (80 to 450).

    Returns
    -------
    dict[str, Path]
        Each id → its WAV file (mono, 16 bit, espeak-ng's 22.05 kHz), in the order of ``lines``.

    Raises
    ------
    VoiceError
        espeak-ng missing (saying how to install it), an unknown voice, a bad rate or id,
        a line with nothing to say, espeak-ng failing (its first stderr line) or running too long.
    """
    exe = _espeak()
    if isinstance(rate, bool) or not isinstance(rate, int) or not 80 <= rate <= 450:
        raise VoiceError(f"speaking rate {brief(rate)} is out of range (80 to 450 words a minute)")
    items = [(line_id, text) for line_id, text in lines]
    _check_ids([line_id for line_id, _ in items])
    spoken = []
    for line_id, text in items:
        if not isinstance(text, str):
            raise VoiceError(f"line {line_id} has no text")
        words = speech_text(text)
        if not words.strip(" .,;:'-?!"):
            raise VoiceError(f"line {line_id} has nothing to say")
        if len(words) > MAX_SPEECH_CHARS:
            raise VoiceError(
                f"line {line_id} is too long to speak ({len(words)} characters; at most {MAX_SPEECH_CHARS})"
            )
        spoken.append((line_id, words))
    _check_voice(exe, voice)
    out_dir = Path(out_dir)
    created = False
    try:
        if not out_dir.is_dir():
            out_dir.mkdir(parents=True)
            created = True
    except OSError as exc:
        raise VoiceError(f"cannot make {brief_path(out_dir)}: {exc.strerror or exc}") from None
    written: dict[str, Path] = {}
    # espeak-ng runs one line per process: as many side by side as there are cores (the lines' order kept)
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=max(1, min(len(spoken), os.cpu_count() or 1)))
    futures = [pool.submit(_speak, exe, line_id, words, out_dir, voice, rate) for line_id, words in spoken]
    try:
        for (line_id, _), future in zip(spoken, futures, strict=True):
            written[line_id] = future.result()
    except BaseException:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)  # no line is still being written when the files are removed
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().unlink(missing_ok=True)
        if created:
            try:
                out_dir.rmdir()  # only if empty: made by this call, and nothing else in it
            except OSError:
                pass
        raise
    pool.shutdown()
    return written


def _speak(exe: str, line_id: str, words: str, out_dir: Path, voice: str, rate: int) -> Path:
    final = out_dir / f"{line_id}.wav"
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{line_id}.", suffix=".wav.part", dir=out_dir)
    except OSError as exc:
        raise VoiceError(f"cannot write in {brief_path(out_dir)}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)
    # espeak-ng speaks several hundred times faster than real time: a generous bound by the text's length
    timeout = 10.0 + 0.2 * len(words)
    try:
        try:
            done = subprocess.run(
                [exe, "-v", voice, "-s", str(rate), "-w", str(tmp), "--stdin"],
                input=words.encode("ascii"),
                capture_output=True,
                timeout=timeout,
            )
        except FileNotFoundError:
            raise VoiceError(_INSTALL) from None
        except subprocess.TimeoutExpired:
            raise VoiceError(f"espeak-ng took over {timeout:.0f} s on line {line_id}") from None
        except OSError as exc:
            raise VoiceError(f"cannot run espeak-ng: {exc.strerror or exc}") from None
        if done.returncode != 0:
            raise VoiceError(f"espeak-ng failed on line {line_id}: {_first_line(done.stderr)}")
        if tmp.stat().st_size <= 44:
            raise VoiceError(f"espeak-ng wrote no audio for line {line_id}: {_first_line(done.stderr)}")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


# ---------------------------------------------------------------------------------------------------- takes


def find_takes(directory: Path, ids: Sequence[str], *, missing_ok: bool = False) -> dict[str, Path]:
    """The lecturer's recording of each line: ``ID.wav``, ``ID.flac``, ``ID.mp3`` or ``ID.m4a`` in ``directory``.

    Parameters
    ----------
    directory
        The folder of takes (other files in it are ignored; suffixes match in any case).
    ids
        The line ids (``descent script`` lists them).
    missing_ok
        Leave out the ids that have no take (they are spoken some other way) instead of refusing.

    Returns
    -------
    dict[str, Path]
        Each id → its take, in the order of ``ids``.

    Raises
    ------
    VoiceError
        The folder is unreadable; an id is not a plain file name; ids without a take (the
        first few named); an id with takes in two formats; a take that is not a regular
        file (a directory, a FIFO ...), is empty or is larger than 200 MB.
    """
    directory = Path(directory)
    ids = list(ids)
    _check_ids(ids)
    wanted = set(ids)
    found: dict[str, list[str]] = {}
    try:
        with os.scandir(directory) as it:
            for k, entry in enumerate(it):
                if k >= MAX_FOLDER_ENTRIES:
                    raise VoiceError(f"takes folder {brief_path(directory)} holds over {MAX_FOLDER_ENTRIES} files")
                stem, dot, suffix = entry.name.rpartition(".")
                if dot and stem in wanted and f".{suffix.lower()}" in TAKE_FORMATS:
                    found.setdefault(stem, []).append(entry.name)
    except FileNotFoundError:
        raise VoiceError(f"takes folder {brief_path(directory)} does not exist") from None
    except NotADirectoryError:
        raise VoiceError(f"takes folder {brief_path(directory)} is not a folder") from None
    except OSError as exc:
        raise VoiceError(f"cannot read takes folder {brief_path(directory)}: {exc.strerror or exc}") from None
    missing = [i for i in ids if i not in found]
    if missing_ok:
        ids = [i for i in ids if i in found]
    elif missing:
        shown = ", ".join(missing[:5])
        more = f", … ({len(missing) - 5} more)" if len(missing) > 5 else ""
        raise VoiceError(
            f"no take for {shown}{more} in {brief_path(directory)} (name each ID.wav, .flac, .mp3 or .m4a)"
        )
    takes: dict[str, Path] = {}
    for line_id in ids:
        names = sorted(found[line_id])
        if len(names) > 1:
            raise VoiceError(f"two takes for {line_id}: {', '.join(names)} (keep one)")
        path = directory / names[0]
        _check_take_file(path)
        takes[line_id] = path
    return takes


def _check_take_stat(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise VoiceError(f"take {brief_path(path)} is {file_kind(st.st_mode)}; a take must be a regular file")
    if st.st_size == 0:
        raise VoiceError(f"take {brief_path(path)} is empty")
    if st.st_size > MAX_TAKE_BYTES:
        raise VoiceError(
            f"take {brief_path(path)} is too large ({st.st_size / 1e6:.0f} MB; at most {MAX_TAKE_BYTES // 10**6} MB)"
        )


def _check_take_file(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise VoiceError(f"cannot read take {brief_path(path)}: {exc.strerror or exc}") from None
    _check_take_stat(path, st)


def load_take(path: Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode one take to mono float32 samples at ``rate`` (resampled by FFmpeg, its channels averaged).

    Only the demuxer of the file's suffix is used (:data:`TAKE_FORMATS`); the file is checked
    on its open descriptor (a regular file, at most 200 MB) before anything reads it.

    Parameters
    ----------
    path
        A ``.wav``, ``.flac``, ``.mp3`` or ``.m4a`` file.
    rate
        The sample rate wanted.

    Returns
    -------
    numpy.ndarray
        1-D float32 samples, full scale ±1.

    Raises
    ------
    VoiceError
        Naming the file: an unknown suffix, not a regular file, too large, unreadable or not
        of its format, no audio stream, longer than 10 minutes, or silent (peak below −50 dBFS).
    """
    import av

    path = Path(path)
    shown = brief_path(path)
    fmt = TAKE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise VoiceError(f"take {shown} is in an unknown format (use .wav, .flac, .mp3 or .m4a)")
    _check_rate(rate)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise VoiceError(f"take {shown} does not exist") from None
    except OSError as exc:
        raise VoiceError(f"cannot read take {shown}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        _check_take_stat(path, os.fstat(fh.fileno()))
        limit = int(MAX_TAKE_SECONDS * rate)
        chunks: list[np.ndarray] = []
        total = 0
        seconds = None
        try:
            with av.open(fh, format=fmt) as container:
                if not container.streams.audio:
                    raise VoiceError(f"take {shown} has no audio")
                stream = container.streams.audio[0]
                if stream.duration is not None and stream.time_base:
                    seconds = float(stream.duration * stream.time_base)
                elif container.duration is not None:
                    seconds = container.duration / 1e6
                if seconds is not None and seconds > MAX_TAKE_SECONDS:
                    raise VoiceError(f"take {shown} is longer than {MAX_TAKE_SECONDS / 60:g} minutes")
                # planar float at the take's own layout: the channels are averaged here (FFmpeg's own
                # downmix would add them at -3 dB, making a mono take recorded as stereo 3 dB louder)
                resampler = av.AudioResampler(format="fltp", rate=rate)
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
                        total += out.samples
                    if total > limit:
                        raise VoiceError(f"take {shown} is longer than {MAX_TAKE_SECONDS / 60:g} minutes")
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
        except VoiceError:
            raise
        except (av.error.FFmpegError, ValueError) as exc:
            what = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "mov": "M4A"}[fmt]
            why = getattr(exc, "strerror", None) or printable(str(exc))[:200]
            raise VoiceError(f"take {shown} is not a readable {what} file ({why})") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if fmt == "mov" and seconds is not None and 0 < round(seconds * rate) < samples.size:
        # the AAC decoder keeps the padding of the last frame that the edit list (the stream's duration) cuts
        samples = samples[: round(seconds * rate)]
    if not samples.size:
        raise VoiceError(f"take {shown} has no audio")
    if samples.size > limit:
        raise VoiceError(f"take {shown} is longer than {MAX_TAKE_SECONDS / 60:g} minutes")
    if not np.isfinite(samples).all():
        raise VoiceError(f"take {shown} has invalid samples (not finite)")
    # a constant offset (a recorder's DC) is no sound: it goes before the silence check and the mix
    samples = (samples - np.float32(samples.mean())).astype(np.float32)
    peak = float(np.abs(samples).max())
    if peak < 10 ** (SILENCE_DBFS / 20):
        level = f"{20 * math.log10(peak):.1f} dBFS" if peak > 0 else "digital silence"
        raise VoiceError(f"take {shown} is silent (peak {level})")
    return samples


# -------------------------------------------------------------------------------------------- mix, loudness


def _mono(samples: object, what: str) -> np.ndarray:
    a = np.asarray(samples)
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise VoiceError(f"{what} must be a 1-D array of samples (got shape {a.shape}, {a.dtype})")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise VoiceError(f"{what} has samples that are not finite")
    return a


def mix(cues: Sequence[tuple[float, np.ndarray]], duration: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Place each clip at its start time in silence exactly ``round(duration * rate)`` samples long.

    Parameters
    ----------
    cues
        ``(start, samples)``: the start in seconds and mono samples at ``rate``. Overlapping clips add up.
    duration
        The length of the mix in seconds (the video's).
    rate
        The sample rate of the clips and the mix.

    Returns
    -------
    numpy.ndarray
        1-D float32 samples. A clip starts at sample ``round(start * rate)``.

    Raises
    ------
    VoiceError
        A bad duration or start, a clip that is not 1-D samples, or a clip running past ``duration``
        (clips are never cut: the timing must leave room for each).
    """
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 < duration <= MAX_MIX_SECONDS:
        raise VoiceError(f"mix duration {brief(duration)} s is out of range (0 to {MAX_MIX_SECONDS:g} s)")
    _check_rate(rate)
    n = round(duration * rate)
    out = np.zeros(n, np.float32)
    for k, (start, clip) in enumerate(cues):
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start) or start < 0:
            raise VoiceError(f"clip {k + 1} has a bad start time {brief(start)}")
        a = _mono(clip, f"clip {k + 1}")
        i = round(start * rate)
        if i + a.size > n:
            raise VoiceError(
                f"clip {k + 1} ({a.size / rate:.3f} s at {start:.3f} s) runs past the end of the mix ({duration:.3f} s)"
            )
        out[i : i + a.size] += a
    return out


def _run_graph(x: np.ndarray, rate: int, filters: Sequence[tuple[str, str]]) -> list:
    """Push ``x`` through ``abuffer → filters → abuffersink``; every frame that comes out."""
    import av

    tb = Fraction(1, rate)
    graph = av.filter.Graph()
    chain = [graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", time_base=tb)]
    chain += [graph.add(name, args) for name, args in filters]
    chain.append(graph.add("abuffersink"))
    for a, b in zip(chain, chain[1:], strict=False):
        a.link_to(b)
    graph.configure()
    frames: list = []
    step = 8192
    for i in range(0, x.size, step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None, i : i + step]), format="flt", layout="mono")
        frame.sample_rate = rate
        frame.time_base = tb
        frame.pts = i
        graph.push(frame)
        _drain(graph, frames)
    graph.push(None)
    _drain(graph, frames)
    return frames


def _drain(graph, frames: list) -> None:
    """Pull every frame the graph has ready."""
    import av

    while True:
        try:
            frames.append(graph.pull())
        except (BlockingIOError, av.error.BlockingIOError, EOFError, av.error.EOFError):
            return


def integrated_loudness(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """The integrated loudness of mono samples in LUFS (EBU R128 / ITU-R BS.1770, FFmpeg's ``ebur128``).

    Parameters
    ----------
    samples
        1-D mono samples at ``rate``.
    rate
        Their sample rate.

    Returns
    -------
    float
        LUFS; ``-inf`` when every 400 ms block is below the absolute gate (−70 LUFS), e.g. silence.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(48000 * 3) / 48000
    >>> round(integrated_loudness(0.1 * np.sin(2 * np.pi * 997 * t)), 1)  # BS.1770: a 997 Hz sine at -20 dBFS
    -23.0
    """
    x = _mono(samples, "the audio")
    _check_rate(rate)
    if not x.size:
        return -math.inf
    value = None
    for frame in _run_graph(x, rate, [("ebur128", "metadata=1")]):
        md = frame.metadata
        if "lavfi.r128.I" in md:
            value = md["lavfi.r128.I"]
    loudness = float(value) if value is not None else -math.inf
    return loudness if math.isfinite(loudness) and loudness > -70 else -math.inf


def _check_rate(rate: object) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 192000:
        raise VoiceError(f"sample rate {brief(rate)} is out of range (8000 to 192000)")


def loudness_normalise(
    samples: np.ndarray, rate: int = SAMPLE_RATE, target_lufs: float = -16.0, true_peak: float = -1.5
) -> np.ndarray:
    """The mix at one integrated loudness, its peaks limited, through an FFmpeg filter graph (PyAV).

    The graph is ``abuffer → volume → alimiter → aformat → abuffersink``, then one gain:

    1. ``volume`` applies the gain that brings the measured integrated loudness
       (:func:`integrated_loudness`) to the target;
    2. ``alimiter`` (look-ahead, delay compensated) holds the sample peaks 1 dB under ``true_peak``.
       Speech has peaks far above its loudness (espeak-ng's about 19 dB), so a plain gain to the
       target would clip; FFmpeg's ``loudnorm`` alone lands a whole LU short, and costs a second a
       minute (it works at 192 kHz);
    3. the limited mix is measured again and a last gain makes up what the limiter took, its peaks
       kept under ``true_peak``.

    Output samples are placed by their timestamps, so nothing shifts in time (an onset stays on its
    sample), and the result has exactly as many samples as the input.

    Parameters
    ----------
    samples
        1-D mono samples at ``rate``.
    rate
        Their sample rate.
    target_lufs
        Integrated loudness wanted, −70 to −5 LUFS (−16 suits speech on the web).
    true_peak
        The highest true peak allowed, −9 to 0 dBTP.

    Returns
    -------
    numpy.ndarray
        1-D float32 samples, as many as ``samples``. Audio below the absolute gate (−70 LUFS; silence)
        is returned unchanged.

    Raises
    ------
    VoiceError
        Samples that are not 1-D or not finite, a rate or target out of range.
    """
    x = _mono(samples, "the audio")
    _check_rate(rate)
    if isinstance(target_lufs, bool) or not isinstance(target_lufs, (int, float)) or not -70 <= target_lufs <= -5:
        raise VoiceError(f"loudness target {brief(target_lufs)} LUFS is out of range (-70 to -5)")
    if isinstance(true_peak, bool) or not isinstance(true_peak, (int, float)) or not -9 <= true_peak <= 0:
        raise VoiceError(f"true peak {brief(true_peak)} dBTP is out of range (-9 to 0)")
    n = x.size
    measured = integrated_loudness(x, rate)
    if not math.isfinite(measured):
        return x.copy()
    limit = 10 ** ((float(true_peak) - 1.0) / 20)
    frames = _run_graph(
        x,
        rate,
        [
            ("volume", f"{float(target_lufs) - measured:.3f}dB"),
            ("alimiter", f"limit={limit:.5f}:attack=5:release=50:level=0:latency=1"),
            ("aformat", f"sample_fmts=flt:sample_rates={rate}:channel_layouts=mono"),
        ],
    )
    out = np.zeros(n, np.float32)
    for frame in frames:
        if frame.pts is None:
            continue
        data = frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        at = round(frame.pts * frame.time_base * rate)
        lo, hi = max(at, 0), min(at + data.size, n)
        if hi > lo:
            out[lo:hi] = data[lo - at : hi - at]
    # the limiter took a little off the loudest syllables: measure again and make it up, the peaks
    # kept under ``true_peak`` (a gain, not a dynamic stage: loudnorm at 192 kHz cost 1 s a minute)
    after = integrated_loudness(out, rate)
    if math.isfinite(after):
        peak = float(np.abs(out).max())
        gain = 10 ** ((float(target_lufs) - after) / 20)
        if peak > 0:
            gain = min(gain, 10 ** (float(true_peak) / 20) / peak)
        out *= np.float32(gain)
    return out


# ------------------------------------------------------------------------------------------------------ mux


def _video_span(container, stream, shown: str) -> tuple[Fraction, Fraction]:
    """The first presentation time and the end of the last frame of the video stream, in seconds
    (a packet without a duration lasts one frame, as in a WebM)."""
    rate = stream.average_rate or stream.guessed_rate
    frame = 1 / Fraction(rate) if rate else None
    first = end = None
    for p in container.demux(stream):
        if p.dts is None or p.pts is None:
            continue
        t0 = p.pts * stream.time_base
        t1 = (p.pts + p.duration) * stream.time_base if p.duration else t0 + (frame or 0)
        first = t0 if first is None else min(first, t0)
        end = t1 if end is None else max(end, t1)
    if first is None or end is None or end <= first:
        raise VoiceError(f"video {shown} has no frames")
    return first, end


def mux_audio(video: Path, samples: np.ndarray, dst: Path, *, rate: int = SAMPLE_RATE, codec: str = "aac") -> None:
    """Write ``dst``: the video stream of ``video`` copied as it is, and ``samples`` as its one audio stream.

    The video packets are copied byte for byte with their timestamps (no re-encode); any other stream
    of ``video`` (an old audio track, the mp4 chapter track) is left out, and its chapters are written
    again as chapters of ``dst``. The audio starts with the video's first frame and is as long as the
    video: shorter samples are padded with silence, longer ones trimmed by at most one frame.

    - ``.mp4`` (``.m4v``, ``.mov``): ``codec`` ``"aac"`` (AAC-LC, about 96 kb/s) or ``"opus"``, moov atom first.
    - ``.webm``: always Opus (about 64 kb/s); the video must already be VP9 (or VP8/AV1).

    ``dst`` is written under a temporary name beside it and renamed when complete.

    Parameters
    ----------
    video
        The silent (or to be re-voiced) video.
    samples
        1-D mono samples at ``rate``, usually :func:`loudness_normalise` of a :func:`mix`.
    dst
        The voiced video to write (replaced if it exists; never ``video`` itself).
    rate
        The sample rate of ``samples`` and of the audio stream (Opus needs 48000).
    codec
        ``"aac"`` or ``"opus"`` for an mp4; a WebM always gets Opus.

    Raises
    ------
    VoiceError
        An unreadable video or one without a video stream, a WebM of a video that is not VP9,
        an unknown codec or suffix, samples longer than the video by more than a frame, or
        ``dst`` being ``video``.
    """
    import av

    video, dst = Path(video), Path(dst)
    x = _mono(samples, "the audio")
    suffix = dst.suffix.lower()
    if suffix == ".webm":
        fmt, acodec, bit_rate, options = "webm", "libopus", 64000, {}
        if codec not in ("aac", "opus"):
            raise VoiceError(f"unknown audio codec {brief(codec)} (aac or opus)")
    elif suffix in (".mp4", ".m4v", ".mov"):
        fmt, options = ("mov" if suffix == ".mov" else "mp4"), {"movflags": "+faststart"}
        if codec == "aac":
            acodec, bit_rate = "aac", 96000
        elif codec == "opus":
            acodec, bit_rate = "libopus", 64000
        else:
            raise VoiceError(f"unknown audio codec {brief(codec)} (aac or opus)")
    else:
        raise VoiceError(f"cannot write audio into {brief_path(dst)}: use .mp4 or .webm")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 96000:
        raise VoiceError(f"sample rate {brief(rate)} is out of range (8000 to 96000)")
    if acodec == "libopus" and rate != 48000:
        raise VoiceError(f"Opus audio needs 48000 Hz samples (got {rate})")
    try:
        if dst.exists() and os.path.samefile(dst, video):
            raise VoiceError(f"cannot write the voiced video over its source {brief_path(video)}")
    except OSError:
        pass
    shown = brief_path(video)
    try:
        with _open_video(video) as inp:
            if not inp.streams.video:
                raise VoiceError(f"video {shown} has no video stream")
            vin = inp.streams.video[0]
            vcodec = vin.codec_context.name
            if fmt == "webm" and vcodec not in ("vp9", "vp8", "av1"):
                raise VoiceError(f"video {shown} is {vcodec}: a WebM needs VP9 video (re-encode it first)")
            first, end = _video_span(inp, vin, shown)
            chapters = inp.chapters()
            rate_v = vin.average_rate or vin.guessed_rate
    except av.error.FFmpegError as exc:
        raise VoiceError(f"video {shown} is not readable ({exc.strerror or exc})") from None
    length = end - first
    want = round(length * rate)
    one_frame = round(rate / Fraction(rate_v)) if rate_v else rate // 10
    if x.size > want + one_frame:
        raise VoiceError(f"the audio ({x.size / rate:.3f} s) is longer than the video {shown} ({float(length):.3f} s)")
    x = np.concatenate([x[:want], np.zeros(max(want - x.size, 0), np.float32)])
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    except OSError as exc:
        raise VoiceError(f"cannot write in {brief_path(dst.parent)}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would carry over to the published file
        with _open_video(video) as inp, av.open(str(tmp), mode="w", format=fmt, options=options) as out:
            vin = inp.streams.video[0]
            vout = out.add_stream_from_template(vin)
            if vin.average_rate:
                vout.codec_context.framerate = vin.average_rate  # a WebM's default frame duration
            aout = out.add_stream(acodec, rate=rate, layout="mono", options=AAC_OPTIONS if acodec == "aac" else {})
            aout.bit_rate = bit_rate
            aout.time_base = Fraction(1, rate)
            if chapters:
                out.set_chapters(chapters)
            for key, value in inp.metadata.items():
                out.metadata[key] = value
            frames = _audio_frames(x, rate, start=round(first * rate))
            pending = next(frames, None)
            for p in inp.demux(vin):
                if p.dts is None:
                    continue
                # interleave: the audio up to this video packet's decoding time goes first
                t = p.dts * vin.time_base
                while pending is not None and Fraction(pending.pts, rate) <= t:
                    out.mux(aout.encode(pending))
                    pending = next(frames, None)
                p.stream = vout
                out.mux(p)
            while pending is not None:
                out.mux(aout.encode(pending))
                pending = next(frames, None)
            out.mux(aout.encode(None))
        os.replace(tmp, dst)
    except av.error.FFmpegError as exc:
        tmp.unlink(missing_ok=True)
        raise VoiceError(f"cannot write {brief_path(dst)} ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _open_video(video: Path):
    import av

    try:
        return av.open(str(video))
    except av.error.FileNotFoundError:
        raise VoiceError(f"video {brief_path(video)} does not exist") from None


def _audio_frames(x: np.ndarray, rate: int, start: int, step: int = 4800):
    import av

    for i in range(0, x.size, step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None, i : i + step]), format="flt", layout="mono")
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = start + i
        yield frame


def speak(
    lines: Sequence[tuple[str, str]],
    voice: str | os.PathLike,
    *,
    voice_name: str = "en-us",
    voice_rate: int = 160,
    fallback: str | None = None,
    rate: int = SAMPLE_RATE,
) -> dict[str, np.ndarray]:
    """The audio of each (id, caption text) line: ``voice`` is ``"espeak"`` or a folder of takes.

    Returns id → mono float32 samples at ``rate``. With a folder, every line needs its
    take unless ``fallback="espeak"`` (then the lines without one are synthesised).
    Everything is checked here, before any rendering: a missing, silent or unreadable
    take, an unknown voice, espeak-ng missing are :class:`VoiceError`.
    """
    import tempfile

    if fallback not in (None, "espeak"):
        raise VoiceError(f"unknown voice fallback {brief(fallback)} (choose espeak)")
    if isinstance(voice_rate, bool) or not isinstance(voice_rate, int) or not 80 <= voice_rate <= 450:
        raise VoiceError(f"voice rate must be 80 to 450 words a minute (got {voice_rate!r})")
    ids = [i for i, _ in lines]
    with tempfile.TemporaryDirectory(prefix="descent-voice-") as tmp:
        paths: dict[str, Path] = {}
        if str(voice) == "espeak":
            todo = ids
        else:
            folder = Path(voice)
            if not folder.is_dir():
                raise VoiceError(f"--voice {brief_path(folder)}: not espeak, none, or a folder of takes")
            paths = find_takes(folder, ids, missing_ok=fallback == "espeak")
            todo = [i for i in ids if i not in paths]
        if todo:
            texts = dict(lines)
            paths.update(synthesize([(i, texts[i]) for i in todo], Path(tmp), voice=voice_name, rate=voice_rate))
        return {i: load_take(paths[i], rate) for i in ids}
