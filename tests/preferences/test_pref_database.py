"""The store's SQLite file: files that are not pbrl stores are refused untouched; concurrent and killed writers lose nothing."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from pbrl.preferences import NotAPbrlStoreError, PreferenceStore, Provenance
from store_support import PROV, segments


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_files_that_are_not_pbrl_stores_are_refused_untouched(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    before = sha(junk)
    with pytest.raises(NotAPbrlStoreError, match="not an SQLite database"):
        PreferenceStore(junk)
    assert sha(junk) == before

    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (name TEXT)")
    con.execute("INSERT INTO users VALUES ('x')")
    con.commit()
    con.close()
    before = sha(other)
    with pytest.raises(NotAPbrlStoreError, match="without pbrl's marker table.*users"):
        PreferenceStore(other)
    assert sha(other) == before and not os.path.exists(str(other) + "-wal")

    with pytest.raises(NotAPbrlStoreError, match="directory"):
        PreferenceStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        PreferenceStore(tmp_path / "missing.sqlite", create=False)

    newer = tmp_path / "newer.sqlite"
    PreferenceStore(newer).close()
    con = sqlite3.connect(newer)
    con.execute("UPDATE pbrl_meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(NotAPbrlStoreError, match="schema version 99.*newer pbrl"):
        PreferenceStore(newer)


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "p.sqlite"
    with PreferenceStore(path) as store:
        qids = store.add_pairs(segments(40, seed=1), segments(40, seed=2))
    errors = []

    def work(name, shared):
        try:
            store = shared or PreferenceStore(path)
            prov = Provenance("human", {}, name)
            for q in qids.tolist():
                store.add_label(q, 1.0, prov)
                store.add_label(q, 1.0, prov)  # a double submit
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    shared = PreferenceStore(path)
    threads = [threading.Thread(target=work, args=(f"user{i}", shared if i % 2 else None)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    assert errors == []
    with PreferenceStore(path) as store:
        rows = store.labels()
        assert rows["id"].size == 160 and len(set(zip(rows["query_id"].tolist(), rows["labeler"].tolist()))) == 160


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pbrl.preferences import Labels, PreferenceStore, Provenance

    store = PreferenceStore(sys.argv[1])
    prov = Provenance("scripted", {"writer": int(sys.argv[2])})
    qids = store.open_queries()
    print("ready", flush=True)
    for i in range(0, len(qids) - 3, 4):
        batch = qids[i : i + 4]
        store.add_labels(batch, Labels.make([0.0, 1.0, 0.5, 1.0], prov))
        print(" ".join(map(str, batch)), flush=True)  # printed only after COMMIT returned
    """
)


def test_killing_a_writer_loses_no_committed_label(tmp_path):
    path = str(tmp_path / "p.sqlite")
    with PreferenceStore(path) as store:
        seg_ids = store.add_segments(segments(30, seed=1))
        rng = np.random.default_rng(0)
        store.add_queries(rng.choice(seg_ids, 4000), rng.choice(seg_ids, 4000))
    total_reported = 0
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, path, str(round_)], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert proc.stdout.readline().strip() == "ready"
        lines = [proc.stdout.readline() for _ in range(int(rng.integers(1, 40)))]
        proc.send_signal(signal.SIGKILL)  # at whatever point the writer is in
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        lines += proc.stdout.read().splitlines()  # commits reported just before the kill
        proc.stdout.close()
        reported = {int(q) for line in lines for q in line.split()}
        assert reported  # the writer committed something this round
        total_reported += len(reported)
        with PreferenceStore(path) as store:
            assert store._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            labelled = set(store.labels()["query_id"].tolist())
            assert reported <= labelled  # no committed label lost
            assert store.summary()["labels"] % 4 == 0  # batches are all-or-nothing
            assert set(store.queries("labelled")["id"].tolist()) == labelled  # statuses committed with labels
    with PreferenceStore(path) as store:
        assert store.labels()["id"].size >= total_reported
        store.add_label(int(store.open_queries()[0]), 0.0, PROV)  # still writable
        assert store._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
