"""The demo's HTML report, rendered in headless Chromium: every image decodes, the figures are right."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.report import write_report

T0 = pd.Timestamp("2026-11-23 22:00", tz="UTC")
THRESHOLD = 0.5


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.fail("chromium is not installed: run `make browser` (Debian's chromium package)")
    return path


def render(chromium: str, page: Path, profile: Path) -> str:
    """The page's DOM after the load event, as headless Chromium serializes it."""
    flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    flags += " --disable-component-update --disable-sync"
    done = subprocess.run(
        [chromium, *flags.split(), f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def header(dom: str) -> dict[str, str]:
    return dict(re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", dom))


def transactions(n: int, fraud_scores: list[float], genuine_alerts: int) -> pd.DataFrame:
    """`n` transactions a minute apart; frauds first with `fraud_scores`, then `genuine_alerts` genuine at 0.8."""
    frauds = len(fraud_scores)
    scores = fraud_scores + [0.8] * genuine_alerts + [0.1] * (n - frauds - genuine_alerts)
    arrival = T0 + pd.to_timedelta(np.arange(n), unit="min")
    return pd.DataFrame(
        {
            "event_time": arrival - pd.Timedelta(seconds=2),
            "score": scores,
            "is_fraud": [True] * frauds + [False] * (n - frauds),
            "arrival_time": arrival,
            "processed_at": arrival + pd.to_timedelta(np.arange(n) % 100 + 50, unit="ms"),
        }
    )


def batches(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "finished_at": T0 + pd.to_timedelta(np.arange(n) * 30, unit="s"),
            "rows_in": [40] * n,
            "rows_per_s": np.linspace(200, 400, n),
        }
    )


def test_report_renders_five_images_and_the_headline_figures(chromium: str, tmp_path: Path) -> None:
    # GIVEN 400 transactions, 20 frauds of which 16 score above the threshold, and 5 genuine false alerts
    frame = transactions(400, [0.9] * 16 + [0.2] * 4, genuine_alerts=5)
    # WHEN the report is written and opened in a browser
    page = write_report(frame, batches(10), threshold=THRESHOLD, path=tmp_path / "report.html", title="run <1>")
    dom = render(chromium, page, tmp_path / "profile")
    # THEN all five plots decoded, and the header shows the counts, precision and recall at the threshold
    assert 'data-images-loaded="5"' in dom
    assert header(dom) == {
        "transactions": "400",
        "frauds (true)": "20",
        "alerts (score ≥ 0.500)": "21",
        "precision": f"{16 / 21:.3f}",
        "recall": f"{16 / 20:.3f}",
        "latency p50": f"{np.percentile(np.arange(400) % 100 + 50, 50):,.1f} ms",
        "latency p99": f"{np.percentile(np.arange(400) % 100 + 50, 99):,.1f} ms",
    }
    assert "<title>run &lt;1&gt;</title>" in dom
    # and it is self-contained: every image is inlined, each with alt text and a caption
    html = page.read_text(encoding="utf-8")
    assert re.findall(r'src="([^":]*):', html) == ["data"] * 5
    assert "http" not in html
    assert len(re.findall(r'<img [^>]*alt="[^"]+"', html)) == 5
    assert html.count("<figcaption>") == 5


@pytest.mark.parametrize(
    ("frame", "batch_frame", "no_data"),
    [
        pytest.param(
            transactions(0, [], 0),
            batches(0),
            [
                "fraud rate over time",
                "scores by true label",
                "precision-recall",
                "latency",
                "throughput per micro-batch",
            ],
            id="no-rows",
        ),
        pytest.param(transactions(50, [], 3), batches(2), ["precision-recall"], id="no-frauds"),
    ],
)
def test_empty_inputs_show_no_data_instead_of_failing(
    chromium: str, tmp_path: Path, frame: pd.DataFrame, batch_frame: pd.DataFrame, no_data: list[str]
) -> None:
    # GIVEN no transactions at all, or no frauds among them
    # WHEN the report is written and opened
    page = write_report(frame, batch_frame, threshold=THRESHOLD, path=tmp_path / "report.html")
    dom = render(chromium, page, tmp_path / "profile")
    # THEN the plots still render (saying "no data" where there is nothing to draw) and recall is n/a
    assert 'data-images-loaded="5"' in dom
    assert re.findall(r'alt="([^"]*): no data"', dom) == no_data
    assert header(dom)["transactions"] == str(len(frame))
    assert header(dom)["recall"] == "n/a"


@pytest.mark.parametrize(("table", "column"), [("transactions", "is_fraud"), ("batches", "rows_per_s")])
def test_a_missing_column_is_named(tmp_path: Path, table: str, column: str) -> None:
    # GIVEN inputs with one required column dropped
    frames = {"transactions": transactions(10, [0.9], 0), "batches": batches(2)}
    frames[table] = frames[table].drop(columns=column)
    # WHEN / THEN the error names the table and the column, and nothing is written
    with pytest.raises(ValueError, match=f"{table} has no column '{column}'"):
        write_report(frames["transactions"], frames["batches"], threshold=THRESHOLD, path=tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
