"""The report as one self-contained HTML page (Jinja2), and as a PDF printed by headless Chromium.

The page has no external asset and makes no request: the CSS is inline and the page thumbnails are ``data:``
URLs, so it opens offline, can be mailed or archived as one file, and prints the same. Every piece of text goes
through :func:`~leadeval_tools.report.masking.mask_numbers` on its way out (Jinja2's ``finalize``), so no SSN or
account number from a document or a person's note reaches the page in full, and through Jinja2's autoescaping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from leadeval.errors import ConfigurationError, LeadevalError
from leadeval_tools.report.build import Report
from leadeval_tools.report.masking import Unmasked, mask_numbers


class PdfError(LeadevalError):
    """Chromium could not print the report to PDF (code ``ProcessingError``)."""


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Unmasked):
        return mask_numbers(value)
    return value


def money(cents: int | None) -> Unmasked:
    """Integer cents as ``$1,234.56`` (``—`` for None)."""
    return Unmasked("—" if cents is None else f"${cents / 100:,.2f}")


def when(value: datetime | None) -> Unmasked:
    """A UTC timestamp as ``2026-01-31 23:59 UTC`` (``—`` for None)."""
    return Unmasked(f"{value:%Y-%m-%d %H:%M} UTC" if value else "—")


def ratio(value: float | None) -> Unmasked:
    """A multiple as ``2.50×`` (``—`` for None)."""
    return Unmasked("—" if value is None else f"{value:.2f}×")


def environment() -> Environment:
    """The Jinja2 environment of the report templates (``report/templates``): autoescaping on, undefined names
    an error, every printed string masked."""
    env = Environment(loader=PackageLoader("leadeval_tools.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True), undefined=StrictUndefined,
                      finalize=_finalize, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=money, when=when, ratio=ratio)
    return env


def render_html(report: Report) -> str:
    """The report's HTML page (a complete document, UTF-8 text)."""
    return environment().get_template("report.html.j2").render(r=report, ev=report.evaluation)


def write_html(report: Report, path: Path) -> Path:
    """Write :func:`render_html` to ``path`` (parents created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path


#: Chromium flags for a headless, offline, sandbox-less run as root in a container: no GPU, no first-run or
#: default-browser prompts, and every background request (component updates, safe browsing, metrics, sync,
#: domain reliability, translation) off, so rendering a report sends nothing anywhere.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-default-apps", "--disable-extensions", "--disable-breakpad",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--safebrowsing-disable-auto-update", "--mute-audio", "--hide-scrollbars",
)


def chromium_binary() -> str:
    """The Chromium to run: ``LEADEVAL_CHROMIUM`` when set, else ``chromium`` (Debian's package) or
    ``chromium-browser`` / ``google-chrome`` on PATH.

    Raises:
        ConfigurationError: none found (install it: ``scripts/ensure_chromium.sh``).
    """
    configured = os.environ.get("LEADEVAL_CHROMIUM")
    if configured:
        if shutil.which(configured) is None:
            raise ConfigurationError(f"LEADEVAL_CHROMIUM={configured} is not an executable")
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise ConfigurationError("no Chromium found to print the PDF: run scripts/ensure_chromium.sh "
                             "(apt-get install chromium) or set LEADEVAL_CHROMIUM")


def write_pdf(report: Report, path: Path, *, timeout: float = 120.0) -> Path:
    """Print the report to a PDF at ``path`` with headless Chromium (``--print-to-pdf``: the page's print CSS,
    US Letter, no header or footer). Works offline: the page has no external asset.

    Raises:
        ConfigurationError: no Chromium (:func:`chromium_binary`).
        PdfError: Chromium failed or timed out (``timeout`` seconds) or wrote no PDF.
    """
    binary = chromium_binary()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="leadeval-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(render_html(report), encoding="utf-8")
        target = path.resolve()
        target.unlink(missing_ok=True)
        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer",
                   f"--print-to-pdf={target}", page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PdfError(f"Chromium did not print the report within {timeout:.0f} s") from exc
        if done.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            raise PdfError(f"Chromium could not print the report (exit code {done.returncode})")
    return path
