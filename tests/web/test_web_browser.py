"""End to end in a real browser: Debian's headless Chromium, driven by Playwright.

The page is opened with a labeler's token; both clips must really play (the
H.264 MP4s decode: readyState ≥ 3 and currentTime advances); one pair is labelled
with a click and one with the → key, the last answer is undone with U, and the
store must hold exactly what the person did.

Chromium is a system package (``apt-get install -y chromium``; .ci/run installs
it). Without it this test fails, by design, rather than skipping.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from web_support import make_store

from pbrl.preferences import PreferenceStore
from pbrl.web import LabelServer

CHROMIUM = os.environ.get("PBRL_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = os.environ.get("PBRL_WEB_SCREENSHOT", "/tmp/pbrl-labeling-page.png")


def _chromium() -> str:
    path = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")
    if not path:
        pytest.fail(
            f"Chromium is not installed (looked for {CHROMIUM} and 'chromium' on PATH). The labeling page's "
            "browser test needs Debian's Chromium: apt-get install -y chromium (.ci/run does this).",
            pytrace=False,
        )
    return path


def wait_for(page, expression: str, arg=None, timeout: float = 60.0):
    """Poll a JS expression until it is truthy (Playwright's wait_for_function evaluates
    strings with eval, which the page's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:g} s: {expression}")
        page.wait_for_timeout(50)


def _playing(page, side: str) -> None:
    """Wait until the clip on ``side`` has decoded frames and its clock moves."""
    sel = f"#video-{side}"
    wait_for(page, f"() => document.querySelector('{sel}').readyState >= 3")
    start = page.evaluate(f"document.querySelector('{sel}').currentTime")
    wait_for(page, f"(t0) => {{ const v = document.querySelector('{sel}'); return !v.paused && v.currentTime !== t0 && !v.error; }}", start)
    w = page.evaluate(f"document.querySelector('{sel}').videoWidth")
    assert w > 0, f"the {side} clip has no decoded video frames"


def _shown_query(page) -> int:
    wait_for(page, "() => document.getElementById('main').dataset.ready === 'true'")
    return int(page.evaluate("document.getElementById('main').dataset.queryId"))


def test_label_by_click_and_key_then_undo(tmp_path):
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    path = str(tmp_path / "prefs.sqlite")
    ids = make_store(path, pairs=3, horizon=30)
    with PreferenceStore(path) as store:
        token = store.add_labeler("alice")

    with LabelServer(path) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/?token={token}")
            # the token leaves the address bar
            assert "token" not in page.url

            first = _shown_query(page)
            assert first == int(ids[0])
            _playing(page, "left")
            _playing(page, "right")
            goal = page.inner_text("#goal")
            assert "cheetah" in goal.lower()
            assert page.inner_text("#progress-text") == "0 labelled · 3 queued"
            page.screenshot(path=SCREENSHOT)

            # label 1: click "left is better"
            page.click("#btn-left")
            wait_for(page, f"() => document.getElementById('main').dataset.queryId !== '{first}'")
            second = _shown_query(page)
            assert second == int(ids[1])
            _playing(page, "left")

            # label 2: the → key
            page.keyboard.press("ArrowRight")
            wait_for(page, f"() => document.getElementById('main').dataset.queryId !== '{second}'")
            third = _shown_query(page)
            assert third == int(ids[2])
            wait_for(page, "() => document.getElementById('progress-text').textContent === '2 labelled · 1 queued'")

            # undo the last answer (U): the second pair comes back
            page.keyboard.press("u")
            wait_for(page, f"() => document.getElementById('main').dataset.queryId === '{second}'")
            wait_for(page, "() => document.getElementById('progress-text').textContent === '1 labelled · 2 queued'")
            assert _shown_query(page) == second

            # answer the rest by keyboard alone (= equal, s skip): the queue empties
            page.keyboard.press("=")
            wait_for(page, f"() => document.getElementById('main').dataset.queryId === '{third}'")
            assert _shown_query(page) == third
            page.keyboard.press("s")
            wait_for(page, "() => !document.getElementById('empty').hidden")
            assert "answered all 3 queries" in page.inner_text("#empty")
            assert page.is_hidden("#labeling")
            page.screenshot(path=SCREENSHOT.replace(".png", "-empty.png"))

            # the statistics page counts alice's answers
            page.goto(f"{server.url}/stats")
            wait_for(page, "() => document.querySelector('#labelers tbody td') && document.querySelector('#labelers tbody td').textContent === 'alice'")
            cells = page.eval_on_selector_all("#labelers tbody tr:first-child td", "tds => tds.map(t => t.textContent)")
            assert cells[:7] == ["alice", "human", "3", "1", "0", "1", "1"]
            page.screenshot(path=SCREENSHOT.replace(".png", "-stats.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()

    with PreferenceStore(path, create=False) as store:
        active = store.labels()
        assert active["query_id"].tolist() == [first, second, third]
        # left = the first segment preferred (0); = equal (0.5); s skipped
        assert active["label"][:2].tolist() == [0.0, 0.5]
        assert active["skipped"].tolist() == [False, False, True]
        assert set(active["labeler"].tolist()) == {"alice"}
        assert set(active["teacher_kind"].tolist()) == {"human"}
        every = store.labels(include_retracted=True)
        undone = every["retracted"] == every["retracted"]  # a retraction time, not NaN
        assert every["query_id"][undone].tolist() == [second]
        assert every["label"][undone].tolist() == [1.0]  # → was "right is better", then undone
        statuses = dict(zip(store.queries()["id"].tolist(), store.queries()["status"].tolist()))
        assert statuses == {first: "labelled", second: "labelled", third: "skipped"}
