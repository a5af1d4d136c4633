"""``pbrl reward-check MODEL --labels STORE``: a learned reward against held-out preference labels.

A reward model trained on a teacher's labels agrees with held-out labels of the same teacher
(exit 0); one trained on the reversed labels is flagged (exit 1); bad input exits 2 naming the
problem. Real Hopper segments, real SQLite stores, real (tiny) reward models.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from console_support import printed
from offline_support import datasets_root, label, make_hopper_dataset
from pbrl.cli.main import app
from pbrl.preferences import PreferenceStore

DATASET = "pbrl/hopper/reward-check-v0"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Oracle-labelled Hopper pairs: a training store and a held-out one; models trained on the labels and on their reverse."""
    from pbrl.rewards import RewardEnsemble

    root = tmp_path_factory.mktemp("reward_check")
    with datasets_root(root / "datasets"):
        make_hopper_dataset(DATASET, steps=3000)
        train = label(DATASET, str(root / "train.sqlite"), pairs=200, segment=20, seed=1)
        heldout = label(DATASET, str(root / "heldout.sqlite"), pairs=120, segment=20, seed=2)
    with PreferenceStore(train, create=False) as store:
        data = store.labelled_pairs()
    models = {}
    for name, labels in (("good", data.labels), ("reversed", 1.0 - data.labels)):
        model = RewardEnsemble(data.first.obs_dim, data.first.act_dim, n_members=2, hidden_sizes=(32, 32), max_epochs=60, seed=0)
        model.fit((data.first.obs, data.second.obs), (data.first.actions, data.second.actions), labels, mask=(data.first.mask, data.second.mask))
        models[name] = model.save(str(root / name / "reward_model")) and str(root / name / "reward_model")
    other = RewardEnsemble(4, 1, n_members=1, hidden_sizes=(8,), seed=0)  # InvertedPendulum's dims
    other.save(str(root / "other"))
    return {"root": root, "heldout": heldout, "models": models, "other": str(root / "other")}


def _check(*args: str):
    result = CliRunner().invoke(app, ["reward-check", *args], env={"COLUMNS": "10000"})
    assert "Traceback" not in result.output, result.output
    return result


def test_a_model_trained_on_the_labels_passes_and_the_reversed_one_is_flagged(made):
    good = _check(made["models"]["good"], "--labels", made["heldout"], "--json")
    assert good.exit_code == 0, good.output
    score = json.loads(good.stdout)
    assert score["decisive"] > 100 and not score["flagged"] and score["min_agreement"] == 0.6
    assert score["agreement"] > 0.7 and score["rank_correlation"] > 0.4, score
    np.testing.assert_allclose(score["rank_distance"], np.sqrt((1 - score["rank_correlation"]) / 2))
    assert good.stderr.startswith("checking the reward model")

    bad = _check(made["models"]["reversed"], "--labels", made["heldout"])
    assert bad.exit_code == 1, bad.output
    assert printed("FLAGGED (agreement < 0.60)", bad.stdout) and printed("rank correlation", bad.stdout)
    flagged = json.loads(_check(made["models"]["reversed"], "--labels", made["heldout"], "--json").stdout)
    assert flagged["agreement"] < 0.3 and flagged["rank_correlation"] < 0 and flagged["flagged"]

    # the threshold is the user's: at 0.99 the good model is flagged too
    assert _check(made["models"]["good"], "--labels", made["heldout"], "--min-agreement", "0.99").exit_code == 1


def test_a_run_folder_and_an_export_file_give_the_same_scores(made, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(made["models"]["good"], run / "reward_model")
    (run / "summary.json").write_text("{}")
    export, imported = str(tmp_path / "heldout.npz"), str(tmp_path / "imported.sqlite")
    with PreferenceStore(made["heldout"], create=False) as store:
        store.export_to(export)
    with PreferenceStore(imported) as store:  # import_from merges queries of the same pair drawn at the same time
        store.import_from(export)
    for (model, labels), reference in (((str(run), made["heldout"]), made["heldout"]), ((made["models"]["good"], export), imported)):
        direct = json.loads(_check(made["models"]["good"], "--labels", reference, "--json").stdout)
        result = _check(model, "--labels", labels, "--json")
        assert result.exit_code == 0, result.output
        again = json.loads(result.stdout)
        for key in ("agreement", "rank_correlation", "pairs", "decisive"):
            assert again[key] == pytest.approx(direct[key]), key
        assert again["pairs"] > 100


def test_bad_input_exits_2_naming_the_problem(made, tmp_path):
    good, heldout = made["models"]["good"], made["heldout"]
    empty = str(tmp_path / "empty.sqlite")
    with PreferenceStore(empty) as store:  # queries, no labels
        with PreferenceStore(heldout, create=False) as src:
            first, second = src.get_pairs([1, 2])
        store.add_pairs(first, second)
    junk = tmp_path / "junk.txt"
    junk.write_text("not a store")
    run = tmp_path / "ppo-run"
    run.mkdir()
    (run / "config.json").write_text('{"agent": "ppo"}')
    (run / "summary.json").write_text("{}")
    cases = [
        ((str(tmp_path / "nope"), "--labels", heldout), "no such folder"),
        ((heldout, "--labels", heldout), "is a file; a reward model is a folder"),
        ((str(tmp_path), "--labels", heldout), "not a pbrl reward-model checkpoint"),
        ((str(run), "--labels", heldout), "is a run folder without a saved reward model"),
        ((good, "--labels", str(tmp_path / "none.sqlite")), "no such file"),
        ((good, "--labels", str(junk)), "neither a pbrl preference store (SQLite) nor a preference export"),
        ((good, "--labels", empty), "none of its 2 queries has been labelled yet"),
        ((made["other"], "--labels", heldout), "the labels' segments have obs_dim 11 and act_dim 3, the reward model obs_dim 4 and act_dim 1"),
    ]
    for args, message in cases:
        result = _check(*args)
        assert result.exit_code == 2 and printed(message, result.output), (args, result.output)
    assert not os.path.exists(tmp_path / "none.sqlite")  # a missing store is not created
