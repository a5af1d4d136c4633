"""Errors of ``pbrl.datasets``: each names the file or dataset id and the problem."""

from __future__ import annotations

__all__ = ["DatasetError", "DatasetExistsError", "DatasetNotFoundError", "DownloadError"]


class DatasetError(ValueError):
    """A dataset (or a file to import) is malformed: missing keys, inconsistent lengths,
    NaN or inf, shapes that do not match the task, an unreadable file, a bad id."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """No local dataset has this id (under ``MINARI_DATASETS_PATH``)."""


class DatasetExistsError(DatasetError, FileExistsError):
    """The target dataset already exists and ``force`` was not given."""


class DownloadError(DatasetError, ConnectionError):
    """A remote Minari dataset could not be fetched (no network, no client, unknown id)."""
