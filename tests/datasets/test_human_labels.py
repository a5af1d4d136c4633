"""People label a dataset's pairs: ``pbrl dataset label ID --teacher human --store S`` puts the
pairs in the store, says where to answer them (or serves the page with ``--serve``), waits as
the human teacher's knobs say, and counts the answers people gave."""

from __future__ import annotations

import threading
import time

from typer.testing import CliRunner

from console_support import printed
from offline_support import datasets_root, make_hopper_dataset
from pbrl.cli.main import app
from pbrl.datasets import label_dataset
from pbrl.preferences import PreferenceStore, Provenance

runner = CliRunner()


def test_human_labels_on_a_dataset_without_waiting(tmp_path):
    store = str(tmp_path / "prefs.sqlite")
    with datasets_root(tmp_path / "minari"):
        ds = make_hopper_dataset("pbrl/hopper/human-v0", steps=600)
        result = runner.invoke(app, ["dataset", "label", ds, "--teacher", "human", "--store", store, "--pairs", "4",
                                     "--segment", "5", "--teacher-arg", "min_labels=0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert printed(f"pbrl label serve --store {store}", result.output)  # where people answer
    with PreferenceStore(store) as s:
        assert s.summary()["queries"] == 4 and s.summary()["labels"] == 0  # waiting for people, nothing invented


def test_serve_prints_the_page_and_stops_with_the_command(tmp_path):
    store = str(tmp_path / "prefs.sqlite")
    with datasets_root(tmp_path / "minari"):
        ds = make_hopper_dataset("pbrl/hopper/human-serve-v0", steps=600)
        result = runner.invoke(app, ["dataset", "label", ds, "--teacher", "human", "--store", store, "--pairs", "2",
                                     "--segment", "5", "--teacher-arg", "min_labels=0", "--serve"])  # fmt: skip
        bad = runner.invoke(app, ["dataset", "label", ds, "--teacher", "oracle", "--store", str(tmp_path / "o.sqlite"), "--serve"])
    assert result.exit_code == 0, result.output
    assert printed("the labeling page is at http://127.0.0.1:", result.output)
    with PreferenceStore(store) as s:
        assert s.info().get("label_server") is None  # the page stopped with the command
    assert bad.exit_code == 2 and printed("--serve serves the labeling page for people", bad.output)


def test_answers_people_give_are_counted(tmp_path):
    store = str(tmp_path / "prefs.sqlite")
    with datasets_root(tmp_path / "minari"):
        ds = make_hopper_dataset("pbrl/hopper/human-answer-v0", steps=600)
        out: dict = {}
        worker = threading.Thread(target=lambda: out.update(label_dataset(
            ds, store, teacher="human", pairs=3, segment=5, teacher_kwargs={"timeout": 120, "poll": 0.05})))  # fmt: skip
        worker.start()
        try:
            with PreferenceStore(store) as s:  # a person, answering in the store as the labeling app does
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and s.summary()["queries"] < 3:
                    time.sleep(0.05)
                ids = [int(q) for q in s.queries()["id"]]
                for qid, choice in zip(ids, (1.0, 0.0, 0.5)):
                    s.add_label(qid, choice, Provenance("human", {}, "alice"))
        finally:
            worker.join(timeout=180)
    assert not worker.is_alive()
    assert out["pairs"] == 3 and out["labels"] == 3 and out["teacher"] == "human"
    with PreferenceStore(store) as s:
        assert s.summary()["labels"] == 3  # people's labels, not stored twice
