"""Every dataset test writes under its own temporary Minari root, never the user's."""

import pytest


@pytest.fixture(autouse=True)
def datasets_dir(tmp_path, monkeypatch):
    """``MINARI_DATASETS_PATH`` pointed at ``<tmp_path>/minari`` for the test."""
    path = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(path))
    return path
