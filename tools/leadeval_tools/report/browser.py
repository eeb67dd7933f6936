"""Headless Chromium driven over the DevTools protocol: load a report page, resize the window, read the page with
JavaScript, take screenshots. Used by the browser tests (tests/browser) and ``scripts/report_screenshots.py``;
``websocket-client`` (a dev dependency) carries the protocol.

Chromium runs with :data:`~leadeval_tools.report.render.CHROMIUM_FLAGS` (headless, no sandbox, no GPU, background
networking off) and a throw-away profile; the DevTools endpoint listens on 127.0.0.1 on a port Chromium picks.
Every request the page makes is recorded (:attr:`Chromium.requests`), so a test can assert it made none.
Protocol reference: the Chrome DevTools Protocol (Page, Runtime, Emulation and Network domains).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from leadeval_tools.report.render import CHROMIUM_FLAGS, chromium_binary

_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools call failed (the message says which)."""


class Chromium:
    """One headless Chromium with one page. Use as a context manager; ``timeout`` is seconds per call."""

    def __init__(self, *, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.requests: list[str] = []
        self._id = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="leadeval-chromium-")
        self._process: subprocess.Popen[str] | None = None
        self._ws: Any = None

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start Chromium and attach to its page.

        Raises:
            ConfigurationError: no Chromium installed. BrowserError: it did not start in ``timeout`` seconds.
        """
        import websocket

        self._process = subprocess.Popen(
            [chromium_binary(), *CHROMIUM_FLAGS, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self._tmp.name}/profile", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        endpoint = self._endpoint()
        port = endpoint.split(":")[2].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as answer:
            pages = [t for t in json.load(answer) if t.get("type") == "page"]
        if not pages:
            raise BrowserError("Chromium started without a page")
        self._ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=self.timeout,
                                               suppress_origin=True)
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable")

    def _endpoint(self) -> str:
        assert self._process is not None and self._process.stderr is not None
        deadline = time.monotonic() + self.timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line and self._process.poll() is not None:
                break
            seen.append(line)
            if match := _LISTENING.search(line):
                return match.group(1)
        raise BrowserError("Chromium did not open its DevTools endpoint: " + " | ".join(seen[-3:]).strip())

    def close(self) -> None:
        """Close the connection and stop Chromium (the process this object started, and only it)."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None
        self._tmp.cleanup()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; returns its ``result``. Events met meanwhile are recorded (requests).

        Raises:
            BrowserError: the command failed.
        """
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = self._next()
            if message.get("id") == self._id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return dict(message.get("result") or {})

    def _next(self) -> dict[str, Any]:
        message = json.loads(self._ws.recv())
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        return dict(message)

    def _wait_event(self, name: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._next().get("method") == name:
                return
        raise BrowserError(f"no {name} within {self.timeout:.0f} s")

    def viewport(self, width: int, height: int = 900) -> None:
        """Emulate a window ``width`` × ``height`` CSS pixels (a phone below 600 px: mobile, touch)."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)

    def open(self, path: Path) -> None:
        """Load a local file and wait for its load event (images decoded)."""
        self.requests.clear()
        self.call("Page.navigate", url=path.resolve().as_uri())
        self._wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page (promises awaited) and return its JSON value.

        Raises:
            BrowserError: the script threw (its message).
        """
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"script failed: {details.get('exception', {}).get('description') or details}")
        return result.get("result", {}).get("value")

    def screenshot(self, *, full_page: bool = True) -> bytes:
        """A PNG of the page (the whole page's height when ``full_page``)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
