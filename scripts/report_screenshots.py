"""Screenshots of the sample reports for the README (docs/report/*.png): `make report-screenshots`.

Runs `leadeval demo` on a throw-away database, then loads two of its report pages in headless Chromium (the browser
tests' DevTools driver) and saves full-page PNGs: the tampered pay stub's report on a 1280 px wide window and the
voucher holder's on a 390 px phone. Sample data is dated from today, so the dates in the pictures are the day they
were taken.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from leadeval_tools.report.browser import Chromium

ROOT = Path(__file__).resolve().parents[1]
SHOTS = (("job_maple_tampered", 1280, "tampered-pay-stub-1280.png"),
         ("job_sunrise_strong", 1280, "approved-applicant-1280.png"),
         ("job_maple_voucher", 390, "voucher-holder-390.png"))


def main() -> int:
    """Write the screenshots; returns the exit status."""
    out = ROOT / "docs" / "report"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="leadeval-shots-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("LEADEVAL_DOCUMENTS_URL", "LEADEVAL_MODEL_URL")}
        env["LEADEVAL_DATABASE_URL"] = f"sqlite:///{tmp}/leadeval.db"
        subprocess.run([str(Path(sys.executable).parent / "leadeval"), "demo"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with Chromium() as browser:
            for job_id, width, name in SHOTS:
                browser.viewport(width)
                browser.open(Path(tmp) / "reports" / f"{job_id}.html")
                (out / name).write_bytes(browser.screenshot())
                print(f"wrote {out / name} ({job_id}, {width} px wide)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
