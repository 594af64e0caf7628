"""Render a seeded week's reports and capture them in headless Chromium (docs/*.png).

    python -m local.report_screenshot      # or: make report-screenshot

Seeds embedded Postgres, builds the week's reports into the moto S3 server, downloads a rep
page and a team page, and screenshots them with Debian's chromium (installed by the make
target when missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from psycopg.rows import dict_row

from common.config import ROOT
from common.reports.numbers import previous_week
from flows.weekly_review import build_week
from local.seed import seed
from local.stack import DATA_DIR, local_stack

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def screenshot(html: str, out: Path, width: int = 900, height: int = 1800) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html)
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp}/profile",
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    week = previous_week(datetime.now(UTC), "UTC")
    with local_stack(
        DATA_DIR / "postgres", database="report_screenshot", with_anthropic=False
    ) as stack:
        os.environ.update(stack.env())
        s = stack.settings()
        with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
            seed(
                conn,
                reps=5,
                managers=1,
                weeks=8,
                calls_per_week=3,
                now=datetime.combine(week + timedelta(weeks=1), datetime.min.time(), tzinfo=UTC),
            )
        result = build_week(s, week)
        index = httpx.get(result["index_url"]).text
        links = [part.split('"')[0].replace("&amp;", "&") for part in index.split('href="')[1:]]
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        team = next(link for link in links if "/team-" in link)
        rep = next(link for link in links if "/rep-" in link)
        screenshot(httpx.get(rep).text, docs / "weekly-report-rep.png")
        screenshot(httpx.get(team).text, docs / "weekly-report-team.png", height=900)
    print(f"wrote {docs / 'weekly-report-rep.png'} and {docs / 'weekly-report-team.png'}")


if __name__ == "__main__":
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    main()
