"""``pbrl label`` (and ``pbrl dataset label``) on a store with a damaged page or made for
another task: a clear error naming the file (and both tasks), exit code 2, no traceback,
and the file left byte for byte as it was."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from console_support import printed
from pbrl.cli.main import app
from pbrl.preferences import DamagedStoreError, Labels, PreferenceStore, Provenance
from store_support import segments

runner = CliRunner()
PAGE = 4096


def _says(out: str, *parts) -> bool:
    """Every part is in the output, however the console wrapped it."""
    return all(printed(str(p), out) for p in parts)


def _store(path, task="pbrl/Hopper-v5"):
    with PreferenceStore(path) as store:
        qids = store.add_pairs(segments(150, h=20, seed=1), segments(150, h=20, seed=2))
        store.add_labels(qids, Labels.make(np.zeros(len(qids)), Provenance("scripted", {"preset": "oracle"})))
        store.add_labeler("ann")
        store.set_info("task", task)
    assert not os.path.exists(f"{path}-wal")  # everything is in the main file
    return path


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A store whose middle page (segment data) is overwritten with junk, as a bad disk sector would."""
    path = _store(tmp_path_factory.mktemp("damaged") / "prefs.sqlite")
    data = bytearray(path.read_bytes())
    middle = (len(data) // PAGE // 2) * PAGE
    data[middle : middle + PAGE] = b"\xa5" * PAGE
    path.write_bytes(bytes(data))
    return path


COMMANDS = [
    ["stats"],
    ["stats", "--json"],
    ["labelers"],
    ["add-labeler", "bob"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_label_commands_refuse_a_damaged_store(damaged, command):
    before = damaged.read_bytes()
    result = runner.invoke(app, ["label", *command, "--store", str(damaged)])
    assert result.exit_code == 2, result.output
    assert _says(result.output, "error:", damaged, "is damaged", "malformed"), result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # a clean exit, nothing raised
    assert damaged.read_bytes() == before  # nothing written into it (not even a labeler)


def test_label_serve_refuses_a_damaged_store(damaged):
    """As a real process: it must not start serving (a hang would end in the timeout)."""
    before = damaged.read_bytes()
    out = subprocess.run([sys.executable, "-m", "pbrl.cli.main", "label", "serve", "--store", str(damaged), "--port", "0"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, COLUMNS="1000"))  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert _says(out.stderr, damaged, "is damaged") and "Traceback" not in out.stderr, out.stderr
    assert damaged.read_bytes() == before


def test_the_store_names_a_damaged_page_when_it_reads_it(damaged, tmp_path):
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(damaged.read_bytes())
    with PreferenceStore(copy, create=False) as store:
        assert store.summary()["queries"] == 150  # pages that are whole still read
        with pytest.raises(DamagedStoreError, match="copy.sqlite is damaged"):
            store.check()
        with pytest.raises(DamagedStoreError, match="copy.sqlite is damaged"):
            store.labelled_pairs()


def test_label_serve_refuses_a_store_of_another_task(tmp_path):
    store = _store(tmp_path / "hopper.sqlite", task="pbrl/Hopper-v5")
    before = store.read_bytes()
    out = subprocess.run([sys.executable, "-m", "pbrl.cli.main", "label", "serve", "--store", str(store), "--port", "0",
                          "--task", "pbrl/HalfCheetah-v5"], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, COLUMNS="1000"))  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert _says(out.stderr, "error:", store, "pbrl/HalfCheetah-v5", "pbrl/Hopper-v5") and "Traceback" not in out.stderr, out.stderr
    assert store.read_bytes() == before


def test_the_labeling_app_refuses_a_store_of_another_task(tmp_path):
    pytest.importorskip("fastapi")
    from pbrl.web.app import create_app

    store = _store(tmp_path / "hopper.sqlite", task="pbrl/Hopper-v5")
    with pytest.raises(ValueError, match="'pbrl/HalfCheetah-v5' does not match the store: .*'pbrl/Hopper-v5'"):
        create_app(str(store), task="pbrl/HalfCheetah-v5")
    app_ = create_app(str(store), task="pbrl/Hopper-v5")  # the store's own task is fine
    app_.state.store.close()


@pytest.fixture(scope="module")
def pendulum_dataset(tmp_path_factory):
    from offline_support import datasets_root, make_pendulum_dataset

    root = tmp_path_factory.mktemp("minari")
    with datasets_root(root):
        yield make_pendulum_dataset("pbrl/pendulum/label-faults-v0", steps=600)


@pytest.mark.parametrize("store_kind", ["damaged", "another task"])
def test_dataset_label_refuses_a_damaged_store_or_one_of_another_task(damaged, pendulum_dataset, tmp_path, store_kind):
    if store_kind == "damaged":
        store = tmp_path / "damaged.sqlite"
        store.write_bytes(damaged.read_bytes())
        words = ["is damaged"]
    else:
        store = _store(tmp_path / "hopper.sqlite", task="pbrl/Hopper-v5")
        words = ["pbrl/Hopper-v5", "pbrl/InvertedPendulum-v5", "another store"]
    before = store.read_bytes()
    result = runner.invoke(app, ["dataset", "label", pendulum_dataset, "--store", str(store), "--pairs", "5", "--segment", "5"])
    assert result.exit_code == 2, result.output
    assert _says(result.output, "error:", store, *words) and "Traceback" not in result.output, result.output
    assert store.read_bytes() == before
