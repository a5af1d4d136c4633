"""``pbrl dataset label --feedback rating|ranking``: ratings and rankings of dataset segments into a store."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from console_support import printed
from offline_support import make_hopper_dataset

from pbrl.cli.main import app
from pbrl.datasets import label_dataset
from pbrl.preferences import PreferenceStore


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("minari")
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield make_hopper_dataset("pbrl/hopper/feedback-v0", steps=800), str(root)
    finally:
        os.environ.pop("MINARI_DATASETS_PATH") if old is None else os.environ.__setitem__("MINARI_DATASETS_PATH", old)


def test_cli_rates_dataset_segments_on_the_return_buckets(hopper, tmp_path, monkeypatch):
    ds, root = hopper
    monkeypatch.setenv("MINARI_DATASETS_PATH", root)
    store = str(tmp_path / "r.sqlite")
    result = CliRunner().invoke(app, ["dataset", "label", ds, "--feedback", "rating", "--classes", "4", "--teacher", "oracle",
                                      "--pairs", "60", "--segment", "10", "--batch-size", "25", "--store", store])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert printed("60 segments from pbrl/hopper/feedback-v0 for rating on 4 levels, 60 rated", result.output)
    with PreferenceStore(store) as s:
        data = s.rated_segments()
        assert data.n_classes == 4 and len(data) == 60
        returns = data.segments.returns
        # noiseless: a higher class never has a lower return than a lower class
        for c in range(3):
            assert returns[data.ratings == c].max() <= returns[data.ratings == c + 1].min()
        assert len(set(data.ratings.tolist())) >= 3  # the buckets were calibrated on the dataset
        assert json.loads(s.rating_queries()["meta"][0])["dataset"] == ds


def test_rankings_of_dataset_segments_imply_ordered_pairs(hopper, tmp_path, monkeypatch):
    ds, root = hopper
    monkeypatch.setenv("MINARI_DATASETS_PATH", root)
    store = tmp_path / "k.sqlite"
    summary = label_dataset(ds, store, teacher="oracle", pairs=24, segment=10, batch_size=12, feedback="ranking", budget=20)
    assert summary["segments"] == 24 and summary["lists"] >= 2 and summary["comparisons"] > 0
    with PreferenceStore(store) as s:
        rankings = s.rankings()
        assert len(rankings) == summary["lists"]
        data = s.labelled_pairs()
        r1, r2 = data.first.returns, data.second.returns
        assert (r2[data.labels == 1.0] >= r1[data.labels == 1.0]).all()  # the oracle's order
        assert len(data) == sum(len(r["builder"].items()) * (len(r["builder"].items()) - 1) // 2 for r in rankings)


def test_human_feedback_waits_in_the_store(hopper, tmp_path, monkeypatch):
    ds, root = hopper
    monkeypatch.setenv("MINARI_DATASETS_PATH", root)
    store = tmp_path / "h.sqlite"
    label_dataset(ds, store, teacher="human", pairs=5, segment=10, feedback="rating", n_classes=3)
    label_dataset(ds, store, teacher="human", pairs=4, segment=10, feedback="ranking")
    with PreferenceStore(store) as s:
        assert s.open_rating_queries().size == 5 and s.summary()["ratings"] == 0
        (open_ranking,) = s.rankings("open")
        assert len(open_ranking["builder"].pending) + len(open_ranking["builder"].groups) == 4


def test_bad_feedback_options_fail_before_any_store_is_made(hopper, tmp_path, monkeypatch):
    ds, root = hopper
    monkeypatch.setenv("MINARI_DATASETS_PATH", root)
    path = tmp_path / "bad.sqlite"
    with pytest.raises(ValueError, match="feedback must be one of pairs, rating, ranking"):
        label_dataset(ds, path, teacher="oracle", pairs=5, segment=5, feedback="stars")
    with pytest.raises(ValueError, match="2 to 10 classes"):
        label_dataset(ds, path, teacher="oracle", pairs=5, segment=5, feedback="rating", n_classes=12)
    with pytest.raises(ValueError, match="budget must be >= 1"):
        label_dataset(ds, path, teacher="oracle", pairs=5, segment=5, feedback="ranking", budget=0)
    with pytest.raises(ValueError, match="scripted rating teacher"):
        label_dataset(ds, path, teacher="hierarchical", pairs=5, segment=5, feedback="rating")
    result = CliRunner().invoke(app, ["dataset", "label", ds, "--feedback", "stars", "--store", str(path)])
    assert result.exit_code != 0 and printed("--feedback must be pairs, rating or ranking", result.output)
    assert not path.exists()
