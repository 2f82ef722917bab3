"""The MLflow UI in a real headless Chromium, used as a person would use it.

Runs a small sweep, starts ``mlflow server`` on its store (127.0.0.1, free port),
opens the URL the sweep printed, and checks what a user sees without clicking: the
sweep's runs grouped by what was swept, one trace per group named after its values,
in a colour of its own, with a min-max band over the seeds; then the table's columns,
a run's description, its ``cost`` chart and a PNG figure among its artifacts.
Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import mlflow
import pytest

from shallownet.tracking import view
from shallownet.tracking.mlflow_internals import lists_named_views
from shallownet.tracking.store import ui_address
from shallownet.vocabulary import SHARE_TAG_PREFIX

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
GROUPS = [f"{i}·{a}" for i in ("zeros", "small", "large") for a in ("tanh", "relu")]
SWEEP_NAME = "init=zeros,small,large activation=tanh,relu seed=0,1"  # the parent run's name

pytestmark = pytest.mark.slow  # real sweeps, servers or browsers


def test_the_printed_url_opens_the_sweep_grouped(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), (
        "Debian's chromium is needed: apt-get install chromium chromium-driver"
    )
    result = run_cli(
        "-m",
        "init=zeros,small,large",
        "activation=tanh,relu",
        "seed=0,1",
        "train.iterations=300",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    printed = re.search(
        r"^  open:    (http://127\.0\.0\.1:(\d+))(\S+)$", result.stdout, re.MULTILINE
    )
    assert printed, result.stdout
    assert printed[1] == ui_address(int(printed[2]))  # a port free when it was printed
    assert printed[3].startswith("/#/experiments/1/runs?viewStateShareKey=")
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
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url + printed[3])  # the test's server, not the printed port

            # the saved view, on the charts, without a click
            group_by = page.get_by_role("button", name=re.compile(r"^Group by: "))
            expect(group_by).to_be_visible(timeout=30_000)
            # the 12 runs, and their parent, which MLflow loads to nest them ("Additional runs")
            expect(page.get_by_text("13 matching runs")).to_be_visible()
            cost = page.get_by_text(f"{GROUPS[0]} (cost)", exact=True)
            expect(cost).to_be_visible(timeout=30_000)
            card = cost.locator("xpath=ancestor::*[.//*[contains(@class,'js-plotly-plot')]][1]")
            # the curves are drawn once their histories have loaded: a band per group
            band = card.locator("path.js-fill").nth(len(GROUPS) - 1)
            expect(band).to_be_attached(timeout=30_000)
            expect(page.get_by_text(f"Group: {GROUPS[0]}", exact=True)).to_be_visible()
            if page.get_by_role("button", name="Close").count():
                page.get_by_role("button", name="Close").first.click()  # the assistant panel
            page.screenshot(path=SHOTS / "1-view-charts.png")

            # one trace per group, named after its values, in the colour MLflow gives it
            tag = group_by.inner_text().removeprefix("Group by: ").strip()
            legend = card.locator(  # a legend entry: a line sample, then the trace's name
                "xpath=.//span[preceding-sibling::*[1][local-name()='svg']]",
                has_text=re.compile(r" \(cost\)$"),
            )
            # MLflow 3.17 also lists the parent run, which it loads to nest the runs, as
            # "Unassigned" (it has no curve); 3.7 does not
            legend = legend.filter(has_not_text="Unassigned (cost)")
            expect(legend).to_have_count(len(GROUPS))
            names = [name.removesuffix(" (cost)") for name in legend.all_inner_texts()]
            assert sorted(names) == sorted(GROUPS)
            strokes = legend.evaluate_all(
                "spans => spans.map(s => s.previousElementSibling.querySelector('path')"
                ".style.stroke)"
            )
            colours = [_hex(stroke) for stroke in strokes]
            assert colours == [view.colour(f"tag.{tag}.{name}") for name in names]
            assert len(set(colours)) == len(GROUPS)  # each group its own colour
            fills = card.locator("path.js-fill").evaluate_all("ps => ps.map(p => p.style.fill)")
            bands = sorted(_hex(fill) for fill in fills if fill)  # one min-max band per group
            assert bands == sorted(colours)
            titles = page.get_by_role("heading", level=4).all_inner_texts()
            assert titles[:4] == [  # the charts drawn so far (more as one scrolls)
                "sat_frac_init",  # the lessons first: saturation at initialization,
                "distinct_units_final",  # symmetry (1 distinct unit)
                "cost",
                "distinct_units",
            ]
            first_screen = page.get_by_role("heading", name="sat_frac_init", exact=True)
            box = first_screen.bounding_box()
            assert box is not None
            assert box["y"] + box["height"] < 1000  # on the first screen, without scrolling

            # the view is listed by the sweep's name in MLflow's Views menu (3.15 and later)
            if lists_named_views(mlflow.__version__):
                views = page.get_by_role("button", name=re.compile(r"^init=zeros,small,large "))
                expect(views).to_be_visible()
                views.click()
                expect(page.get_by_text("SAVED VIEWS", exact=False)).to_be_visible()
                listed = page.get_by_role("menuitem", name=SWEEP_NAME)
                expect(listed.or_(page.get_by_text(SWEEP_NAME, exact=True)).first).to_be_visible()
                page.screenshot(path=SHOTS / "1b-views-menu.png")
                page.mouse.click(800, 60)  # outside the menu (beside the page's title): closes it
                expect(page.get_by_text("SAVED VIEWS", exact=False)).to_be_hidden()

            # the table: the swept params, the key summaries, each run's description
            page.locator("label:has(input[type=radio][value=TABLE])").click()
            for column in ("init", "activation", "seed", "final_cost", "sat_frac_init"):
                expect(page.get_by_role("columnheader", name=column).first).to_be_visible()
            describes = page.get_by_text("zeros + tanh: all 4 hidden units identical")
            expect(describes).to_have_count(0)  # groups are listed collapsed
            for name in ("zeros·tanh", "small·tanh"):  # a user expands two of them
                group = page.get_by_text(f"Group: {name}", exact=True)
                group.locator("xpath=ancestor::*[@role='gridcell'][1]").locator(
                    "[role=button]"
                ).first.click()
            expect(describes).to_have_count(2)  # its two seeds, each described
            expect(page.get_by_role("link", name=child)).to_be_visible()
            page.screenshot(path=SHOTS / "2-view-table.png")

            page.get_by_role("link", name=child).click()
            expect(page.get_by_role("heading", name=child)).to_be_visible()
            page.get_by_role("tab", name="Model metrics").click()
            expect(page.get_by_text("cost", exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / "3-run-metrics.png")

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
    assert len(list(SHOTS.glob("*.png"))) == 4 + lists_named_views(mlflow.__version__)


# A group row's visible text in MLflow's run list: what is left of its name once cut
VISIBLE_TEXT = """spans => spans.map(span => {
    const text = span.textContent;
    if (span.scrollWidth <= span.clientWidth) return text;
    const probe = document.createElement("span");
    probe.textContent = "\u2026";
    span.appendChild(probe);
    const ellipsis = probe.getBoundingClientRect().width;
    probe.remove();
    const range = document.createRange();
    let shown = 0;
    for (let n = 1; n <= text.length; n++) {
        range.setStart(span.firstChild, 0);
        range.setEnd(span.firstChild, n);
        if (range.getBoundingClientRect().width + ellipsis > span.clientWidth) break;
        shown = n;
    }
    return text.slice(0, shown);
})"""


def test_the_main_studys_views_read_at_a_glance(tmp_path: Path) -> None:
    """The main study (18 groups over data x init x activation), as a newcomer opens each
    printed URL at 1600 x 1000 with MLflow's own panels as they come: every group's name
    told apart by what the run list shows of it, saturation at initialization (its
    value on its bar) and symmetry on the first screen, each view listed by name."""
    from playwright.sync_api import expect, sync_playwright

    result = run_cli("-m", "experiment=main", "seed=0", "train.iterations=200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    opens = re.findall(r"^  open:    http://127\.0\.0\.1:\d+(\S+)$", result.stdout, re.MULTILINE)
    assert len(opens) == 2, result.stdout  # one view per data set
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs(["1"], "tags.`mlflow.parentRunId` != ''")
    saturated = {  # the main lesson: tanh under randn * 1 on 50 inputs
        (run.data.params["data"], run.data.params["init"], run.data.params["activation"]): (
            run.data.metrics["sat_frac_init"]
        )
        for run in runs
    }
    tags = client.get_experiment("1").tags
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (
        mlflow_server(tmp_path, backend=uri) as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            for data, path in zip(("flower", "many_features"), opens, strict=True):
                page.goto(url + path)
                names = _read_at_a_glance(page, 9)  # init x activation, of this data set
                assert sorted(names) == sorted(
                    f"{i}·{a}"
                    for i in ("zeros", "small", "large")
                    for a in ("sigmoid", "tanh", "relu")
                )
                lessons = page.get_by_role("heading", name="sat_frac_init", exact=True)
                card = lessons.locator(
                    "xpath=ancestor::*[.//*[contains(@class,'js-plotly-plot')]][1]"
                )
                value = f"{saturated[(data, 'large', 'tanh')]:.2f}"
                expect(card.get_by_text(value, exact=True).first).to_be_visible(timeout=30_000)
                page.wait_for_timeout(2_000)  # the curves finish drawing
                page.screenshot(path=SHOTS / f"5-main-{data}.png")
            assert saturated[("many_features", "large", "tanh")] > 0.5  # what the bar shows

            if lists_named_views(mlflow.__version__):  # both views, by name, in the menu
                names = [
                    json.loads(tags[f"{SHARE_TAG_PREFIX}{key}"])["name"]
                    for key in (
                        path.split("viewStateShareKey=")[1].split("&")[0] for path in opens
                    )
                ]
                assert names[1].startswith("data=many_features · main: ")
                page.get_by_role("button", name=re.compile(r"^data=many_features · ")).click()
                expect(page.get_by_text("SAVED VIEWS", exact=False)).to_be_visible()
                for name in names:
                    listed = page.get_by_role("menuitem", name=name)
                    expect(listed.or_(page.get_by_text(name, exact=True)).first).to_be_visible()
                page.screenshot(path=SHOTS / "5-main-views-menu.png")
        finally:
            browser.close()


STUDIES = {"symmetry": 6, "saturation": 8, "fan_in": 12, "depth": 9}  # README's: groups


def test_each_studys_view_reads_at_a_glance(tmp_path: Path) -> None:
    """The README's other studies, each in one view whose group names the run list tells
    apart (shortened where that does it: ``cons·sigmoid``, not ``constant·sigmoid``), the
    lessons on the first screen."""
    from playwright.sync_api import sync_playwright

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    opened = {}
    for study in STUDIES:
        result = run_cli(
            "-m",
            f"experiment={study}",
            "seed=0",
            "train.iterations=100",
            f"tracking.experiment={study}",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        opens = re.findall(r"^  open:    http://127\.0\.0\.1:\d+(\S+)$", result.stdout, re.M)
        assert len(opens) == 1, result.stdout  # its names fit: one view
        opened[study] = opens[0]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with mlflow_server(tmp_path, backend=uri) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            for study, path in opened.items():
                # a tab of its own, as a user opens each printed URL (in one page, a URL
                # that differs by its #fragment alone is a route change in the loaded app)
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(url + path)
                names = _read_at_a_glance(page, STUDIES[study])
                if study == "symmetry":  # "constant" whole would hide the activation
                    assert "cons·sigmoid" in names
                page.screenshot(path=SHOTS / f"6-{study}.png")
                page.close()
        finally:
            browser.close()


def _read_at_a_glance(page: Any, groups: int) -> list[str]:
    """Check what a view shows before any click: the lessons (saturation at
    initialization, symmetry) on the first screen, and ``groups`` groups whose names are
    told apart by what the run list shows of them; their names."""
    from playwright.sync_api import expect

    lessons = page.get_by_role("heading", name="sat_frac_init", exact=True)
    expect(lessons).to_be_visible(timeout=60_000)
    for lesson in ("sat_frac_init", "distinct_units_final"):
        box = page.get_by_role("heading", name=lesson, exact=True).bounding_box()
        assert box is not None
        assert box["y"] + box["height"] < 1000  # on the first screen
    listed = page.locator("span[title]", has_text=re.compile(r"^Group: "))
    expect(listed).to_have_count(groups)
    visible = listed.evaluate_all(VISIBLE_TEXT)
    assert len(set(visible)) == groups, visible  # told apart as shown, cut or not
    return [name.removeprefix("Group: ") for name in listed.all_inner_texts()]


def _hex(css: str) -> str:
    """``rgb(31, 39, 45)`` as ``#1f272d``."""
    red, green, blue = (int(n) for n in re.findall(r"\d+", css)[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"
