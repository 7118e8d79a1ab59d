"""A minimal Chrome DevTools Protocol client for the browser tests, standard library only.

Chromium is started with ``--remote-debugging-pipe``: it reads commands from its file descriptor 3 and
writes answers and events to its descriptor 4, one JSON message per NUL-terminated record (no websocket,
no port). Key presses and clicks go through ``Input.dispatchKeyEvent``/``Input.dispatchMouseEvent``: the
browser's own input path, trusted events, exactly as from a keyboard.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--remote-debugging-pipe",
]

# key → (code, Windows virtual key code, text it types)
_KEYS: dict[str, tuple[str, int, str]] = {
    "ArrowRight": ("ArrowRight", 39, ""),
    "ArrowLeft": ("ArrowLeft", 37, ""),
    "Home": ("Home", 36, ""),
    " ": ("Space", 32, " "),
    **{str(d): (f"Digit{d}", 48 + d, str(d)) for d in range(10)},
}


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium; :meth:`page` opens a tab. Use as a context manager (the browser is closed)."""

    def __init__(self, executable: str, profile: Path, timeout: float = 60):
        self.timeout = timeout
        cmd_read, self._cmd_write = os.pipe()  # our commands → the browser's fd 3
        self._out_read, out_write = os.pipe()  # the browser's fd 4 → us

        def child_fds() -> None:  # in the child, before exec: its fd 3 and 4, kept open across exec
            a = fcntl.fcntl(cmd_read, fcntl.F_DUPFD, 5)
            b = fcntl.fcntl(out_write, fcntl.F_DUPFD, 5)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # our pipes are not inheritable; only the child's fd 3 and 4 are
            preexec_fn=child_fds,  # noqa: PLW1509
        )
        os.close(cmd_read)
        os.close(out_write)
        self._cond = threading.Condition()
        self._answers: dict[int, dict] = {}
        self.events: list[dict] = []
        self._next_id = 0
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    # -- the pipe ------------------------------------------------------------------------------------
    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._out_read, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *records, buffer = buffer.split(b"\0")
            with self._cond:
                for record in records:
                    message = json.loads(record)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self.events.append(message)
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._cmd_write, data) :]
        with self._cond:
            if not self._cond.wait_for(lambda: ident in self._answers or self._closed, self.timeout):
                raise TimeoutError(f"no answer to {method} within {self.timeout} s")
            if ident not in self._answers:
                raise CDPError(f"the browser closed its pipe before answering {method}")
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_event(self, method: str, session: str | None, since: int, timeout: float | None = None) -> dict:
        """The first event ``method`` (of ``session``) at index ``since`` or later of :attr:`events`."""

        def found() -> dict | None:
            for event in self.events[since:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            return None

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None or self._closed, timeout or self.timeout):
                raise TimeoutError(f"no {method} within {timeout or self.timeout} s")
            event = found()
        if event is None:
            raise CDPError(f"the browser closed its pipe before {method}")
        return event

    # -- tabs ----------------------------------------------------------------------------------------
    def page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.timeout = 10
                self.send("Browser.close")
            self.proc.wait(10)
        except (TimeoutError, CDPError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._cmd_write)
            self._thread.join(10)
            os.close(self._out_read)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab, attached in flat mode: its console errors are collected from the moment it is opened."""

    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session
        self.since = len(browser.events)
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Page.bringToFront")

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, self.session)

    def goto(self, url: str) -> None:
        since = len(self.browser.events)
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise CDPError(f"navigation to {url} failed: {answer['errorText']}")
        self.browser.wait_event("Page.loadEventFired", self.session, since)

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` (a promise is awaited); a JavaScript exception is raised here."""
        answer = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise CDPError(details.get("exception", {}).get("description") or details.get("text"))
        return answer["result"].get("value")

    def press(self, key: str) -> None:
        """Press and release ``key`` (a ``KeyboardEvent.key`` value) through the browser's input path."""
        code, vk, text = _KEYS[key]
        down = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        self.send("Input.dispatchKeyEvent", {"type": "keyDown" if text else "rawKeyDown", "text": text, **down})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **down})

    def click(self, selector: str) -> None:
        """A left click in the middle of the element ``selector`` (scrolled into view first)."""
        box = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
            )

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads the page reported so far."""
        found = []
        for event in self.browser.events[self.since :]:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("exception", {}).get("description")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                found.append(f"{entry.get('text')} {entry.get('url', '')}".strip())
        return found
