"""The Dagster UI as a person sees it: webserver on 127.0.0.1, GraphQL asset graph, a Chromium screenshot
of the lineage graph (Debian's chromium; `make test` installs it when missing)."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest
from PIL import Image

from tests.helpers import ASSETS, CLI, ROOT, SAMPLE, free_port

pytestmark = pytest.mark.subprocess
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.load(resp)
    assert "errors" not in body, body
    return body["data"]


class Server(NamedTuple):
    port: int
    out: Path  # the output folder `paperlake run` built before the webserver started


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp / "home"),
        "PAPERLAKE_RAW_DIR": str(SAMPLE),
        "PAPERLAKE_OUT_DIR": str(tmp / "out"),
    }
    bin_dir = Path(sys.executable).parent
    run = subprocess.run(
        [str(bin_dir / "paperlake"), "run"], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    port = free_port()
    log = (tmp / "webserver.log").open("w")
    proc = subprocess.Popen(
        [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, (tmp / "webserver.log").read_text()
                assert time.monotonic() < deadline, "webserver did not answer in 120 s"
                time.sleep(0.5)
        yield Server(port, tmp / "out")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_graphql_asset_graph(webserver):
    data = _graphql(
        webserver.port,
        """{ assetNodes { assetKey { path } groupName description kinds
        dependencyKeys { path } assetChecksOrError { ... on AssetChecks { checks { name } } } } }""",
    )
    nodes = {n["assetKey"]["path"][0]: n for n in data["assetNodes"]}
    assert set(nodes) == ASSETS
    assert all(n["description"] and n["groupName"] and n["kinds"] for n in nodes.values())
    assert {d["path"][0] for d in nodes["core_papers"]["dependencyKeys"]} == {"core_sightings"}
    checks = {c["name"] for n in nodes.values() for c in (n["assetChecksOrError"].get("checks") or [])}
    assert {"entries_conserved", "papers_contract", "reject_rate"} <= checks
    runs = _graphql(webserver.port, "{ runsOrError { ... on Runs { results { jobName status } } } }")
    results = runs["runsOrError"]["results"]
    assert {(r["jobName"], r["status"]) for r in results} == {("update_job", "SUCCESS")}


def _chromium(pw):
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )


def test_lineage_graph_screenshot(webserver):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium missing: `make test` installs it"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "lineage.png"
    with sync_playwright() as pw:
        browser = _chromium(pw)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.add_init_script("window.localStorage.setItem('communityNux', '1')")
        # the whole graph, expanded: everything upstream of the last assets (the report and the digest)
        lineage = "/assets/out_duckdb?view=lineage&lineageScope=neighbors&lineageDepth=10"
        page.goto(f"http://127.0.0.1:{webserver.port}{lineage}", wait_until="domcontentloaded")
        for name in ASSETS:
            page.get_by_text(name, exact=True).first.wait_for(state="visible", timeout=60_000)
        page.wait_for_timeout(1000)
        boxes = {name: page.get_by_text(name, exact=True).first.bounding_box() for name in ASSETS}
        page.screenshot(path=str(shot))
        browser.close()
    with Image.open(shot) as image:
        picture = image.convert("RGB")
    assert picture.size == (1600, 1000)
    for name, box in boxes.items():  # every asset's label is drawn inside the picture, not blank
        assert box is not None, name
        left, top, right, bottom = box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]
        assert 0 <= left < right <= 1600 and 0 <= top < bottom <= 1000, (name, box)
        label = picture.crop((int(left), int(top), int(right) + 1, int(bottom) + 1))
        assert len(label.getcolors(1 << 24) or []) >= 5, f"{name}: its label area is blank in the screenshot"


def test_digest_page_screenshot(webserver):
    """The HTML digest the run wrote, as a reader's browser shows it: every new paper listed with its
    anchor, the feed linked, the screenshot kept with the other artifacts."""
    from playwright.sync_api import sync_playwright

    page_file = webserver.out / "digest" / "latest.html"
    shot = ARTIFACTS / "digest.png"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = _chromium(pw)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_file.as_uri(), wait_until="load")
        heading = page.locator("h1").inner_text()
        papers = page.locator("li[id^='p_']").count()
        feed = page.get_by_text("Atom feed").get_attribute("href")
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    served = subprocess.run(
        [CLI, "query", "SELECT count(*) FROM papers", "-f", "csv"],
        env={**os.environ, "PAPERLAKE_OUT_DIR": str(webserver.out)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert heading.startswith("paperlake: what's new in version")
    assert papers == int(served.stdout.split()[-1]) > 0  # the first version: every paper is new
    assert feed == "feed.xml" and (page_file.parent / feed).exists()
    with Image.open(shot) as image:
        picture = image.convert("RGB")
    assert picture.size == (1200, 900)
    assert len(picture.getcolors(1 << 24) or []) >= 20, "the digest screenshot is blank"
