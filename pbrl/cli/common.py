"""What every ``pbrl`` command shares: the stderr console and the one way to fail."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

#: messages and progress go to stderr; soft wrap: a long line stays one line in a log file
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` (the message as plain text, never markup) and exit with ``code``."""
    err.print(Text.assemble(("error:", "bold red"), " ", str(message)))
    raise typer.Exit(code)
