"""The rating and ranking views end to end in real Chromium (Playwright), keyboard only.

Rating: the clip really plays, keys 3 and s rate and skip, u undoes, a key above the
scale is refused on the page and stores nothing. Ranking: a three-clip list is built by
answering the binary-search comparisons with → and ←; the stored list and its implied
pairs must be exactly what the keys said.
"""

from __future__ import annotations

import contextlib

from test_web_browser import ARGS, SCREENSHOT, _chromium, _playing, wait_for
from test_web_feedback import make_feedback_store

from pbrl.preferences import PreferenceStore
from pbrl.web import LabelServer


def _ready(page) -> str:
    wait_for(page, "() => document.getElementById('main').dataset.ready === 'true'")
    return page.evaluate("document.getElementById('main').dataset.itemId")


def _shows(page, item: str) -> None:
    """Wait until the page shows ``item`` (rating query id, or ``ranking:step``) ready to answer."""
    wait_for(page, "(id) => document.getElementById('main').dataset.itemId === id", item)
    assert _ready(page) == item


@contextlib.contextmanager
def opened(path: str, view: str, token: str, width: int = 1200):
    """The store served and ``view`` open in headless Chromium with ``token``; no page errors allowed."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    with LabelServer(path) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}{view}?token={token}")
            yield page
            assert not errors, errors
        finally:
            browser.close()


def test_rating_view_by_keyboard(tmp_path):
    path = str(tmp_path / "prefs.sqlite")
    qids, _ = make_feedback_store(path, ratings=3, n_classes=4, ranked=0, horizon=30)
    with PreferenceStore(path) as store:
        token = store.add_labeler("alice")
    with opened(path, "/rate", token, width=1000) as page:
        assert _ready(page) == str(qids[0])
        _playing(page, "one")
        assert page.eval_on_selector_all("#levels button", "bs => bs.length") == 4
        assert "1 (worst) to 4 (best)" in page.inner_text("#scale-text")
        page.screenshot(path=SCREENSHOT.replace(".png", "-rate.png"))
        page.keyboard.press("5")  # above the scale: refused on the page
        wait_for(page, "() => document.getElementById('status').textContent.includes('rated 1 to 4')")
        page.keyboard.press("3")
        wait_for(page, f"() => document.getElementById('main').dataset.itemId === '{qids[1]}'")
        assert _ready(page) == str(qids[1])
        page.keyboard.press("s")
        wait_for(page, f"() => document.getElementById('main').dataset.itemId === '{qids[2]}'")
        page.keyboard.press("u")  # the skipped clip comes back
        wait_for(page, f"() => document.getElementById('main').dataset.itemId === '{qids[1]}'")
        assert _ready(page) == str(qids[1])
        page.keyboard.press("4")
        wait_for(page, f"() => document.getElementById('main').dataset.itemId === '{qids[2]}'")
        assert _ready(page) == str(qids[2])
        page.keyboard.press("1")
        wait_for(page, "() => !document.getElementById('empty').hidden")
        assert "rated all 3 clips" in page.inner_text("#empty")
    with PreferenceStore(path, create=False) as store:
        data = store.rated_segments()
        assert data.rating_query_ids.tolist() == qids and data.ratings.tolist() == [2, 3, 0]  # keys 3, 4, 1
        every = store.ratings(include_retracted=True)
        assert every["skipped"].tolist() == [False, True, False, False] and (every["retracted"] == every["retracted"]).sum() == 1


def test_ranking_view_by_keyboard(tmp_path):
    path = str(tmp_path / "prefs.sqlite")
    _, rid = make_feedback_store(path, ratings=0, ranked=3, horizon=30)
    with PreferenceStore(path) as store:
        token = store.add_labeler("alice")
        a, b, c = store.ranking(rid)["builder"].pending
    with opened(path, "/rank", token) as page:
        assert _ready(page) == f"{rid}:0"
        _playing(page, "left")
        _playing(page, "right")
        assert "1 of 3 clips placed" in page.inner_text("#progress-text")
        page.screenshot(path=SCREENSHOT.replace(".png", "-rank.png"))
        page.keyboard.press("ArrowRight")  # b better than a: [a, b]
        assert _ready(page) == f"{rid}:1"
        page.keyboard.press("ArrowLeft")  # c vs b (the middle): b better
        assert _ready(page) == f"{rid}:2"
        page.keyboard.press("u")  # take it back: the same comparison again
        _shows(page, f"{rid}:1")
        page.keyboard.press("ArrowLeft")
        assert _ready(page) == f"{rid}:2"
        page.keyboard.press("ArrowRight")  # c vs a: c better -> [a, c, b]
        wait_for(page, "() => !document.getElementById('empty').hidden")
        assert "complete: 3 pairs saved" in page.inner_text("#status")
    with PreferenceStore(path, create=False) as store:
        (ranking,) = store.rankings("done")
        assert ranking["groups"] == [[a], [c], [b]] and ranking["comparisons"] == 3
        data = store.labelled_pairs()
        assert len(data) == 3 and data.labels.tolist() == [1.0, 1.0, 1.0] and set(data.labelers) == {"alice"}
