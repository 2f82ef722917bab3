"""The MLflow UI in a real headless Chromium, used as a person would use it.

Runs a small sweep, starts ``mlflow server`` on its store (127.0.0.1, free
port), and checks what a user sees: the sweep's parent run, its children
after expanding it, a run's ``cost`` chart, and a PNG figure among its
artifacts. Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .cli_helpers import REPO, run_cli
from .servers import mlflow_server

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "test-artifacts" / "browser"

pytestmark = pytest.mark.slow  # real sweeps, servers or browsers


def test_sweep_in_the_mlflow_ui(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), (
        "Debian's chromium is needed: apt-get install chromium chromium-driver"
    )
    result = run_cli(
        "-m",
        "init=zeros,small",
        "activation=tanh",
        "seed=0,1",
        "train.iterations=300",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    child = "init=small,activation=tanh,seed=0,train.iterations=300"

    with (
        mlflow_server(tmp_path, backend=f"sqlite:///{tmp_path}/mlflow.db") as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/#/experiments/1")
            # MLflow 3 opens on its GenAI view; a user dismisses the tip and switches view
            page.get_by_role("button", name="Got it").click()
            page.get_by_text("Model training", exact=True).click()
            parent = page.get_by_text("init=zeros,small seed=0,1", exact=True)  # the axes swept
            expect(parent).to_be_visible(timeout=30_000)
            expect(page.get_by_text("5 matching runs")).to_be_visible()
            page.screenshot(path=SHOTS / "1-runs.png")

            # the children appear under their parent once it is expanded
            expect(page.get_by_role("link", name=child)).to_have_count(0)
            parent.locator("xpath=ancestor::*[@role='row'][1]").locator("button").first.click()
            for name in (child, "init=zeros,activation=tanh,seed=1,train.iterations=300"):
                expect(page.get_by_role("link", name=name)).to_be_visible()
            page.screenshot(path=SHOTS / "2-children.png")

            page.get_by_role("link", name=child).click()
            expect(page.get_by_role("heading", name=child)).to_be_visible()
            page.get_by_role("tab", name="Model metrics").click()
            expect(page.get_by_text("cost", exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / "3-metrics.png")
            search = page.get_by_placeholder("Search metric charts")
            for chart in ("distinct_units", "sat_frac", "train_accuracy", "cost"):
                search.fill(
                    chart
                )  # charts below the fold render lazily; find them as a user would
                expect(page.get_by_text(chart, exact=True).first).to_be_visible()

            page.get_by_role("tab", name="Artifacts").click()
            page.get_by_text("figures", exact=True).click()
            page.get_by_text("cost_curve.png", exact=True).click()
            image = page.locator("img[src^='blob:']").first
            expect(image).to_be_visible()
            width = image.evaluate("img => img.naturalWidth")
            assert width > 100  # the PNG decoded
            expect(page.get_by_text("history.csv", exact=True)).to_be_visible()
            page.screenshot(path=SHOTS / "4-artifact.png")
        finally:
            browser.close()
    assert len(list(SHOTS.glob("*.png"))) == 4
