"""The README's picture of the MLflow UI: a study's sweep, as its printed URL opens it.

    python experiments/screenshot.py [study]        # default: main

Runs ``shallownet -m experiment=<study>`` in a fresh folder, serves its store with
``mlflow server`` (127.0.0.1, a free port, stopped with its process group), opens the
URL the sweep printed last (the main study's view of its 50-input data) in headless
Chromium and saves ``docs/mlflow-view.png``. Needs the
test extras (Playwright) and Debian's ``chromium``, as the browser test does.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test suite's server helper: one way to start a server

from tests.servers import mlflow_server  # noqa: E402
from tests.test_ui_browser import CHROMIUM, FLAGS  # noqa: E402

OUT = REPO / "docs" / "mlflow-view.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", default="main")
    study = parser.parse_args().study
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "shallownet"), "-m", f"experiment={study}"],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        # the last view: the main study's of its 50-input data, where saturation shows
        found = re.findall(r"^  open:    http://127\.0\.0\.1:\d+(\S+)$", done.stdout, re.MULTILINE)
        assert found, done.stdout
        with (
            mlflow_server(Path(tmp), backend=f"sqlite:///{tmp}/mlflow.db") as url,
            sync_playwright() as p,
        ):
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url + found[-1])  # on the test's server, MLflow's own panels as they come
            lessons = page.get_by_role("heading", name="sat_frac_init", exact=True)
            expect(lessons).to_be_visible(timeout=120_000)
            expect(page.locator(".js-plotly-plot").first).to_be_attached(timeout=60_000)
            page.wait_for_timeout(5_000)  # the charts finish drawing
            OUT.parent.mkdir(exist_ok=True)
            page.screenshot(path=OUT)
            browser.close()
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
