"""Prompt templates: text files shipped as package data, each overridable from a folder."""

from __future__ import annotations

import os
from importlib import resources


def load_template(package: str, name: str, templates_dir: str | None = None) -> str:
    """The text of template ``name``: from ``templates_dir`` if it has the file, else from ``package``'s data."""
    if templates_dir:
        path = os.path.join(templates_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    try:
        return resources.files(package).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"no prompt template {name!r} (in {templates_dir or 'pbrl'})") from None


__all__ = ["load_template"]
