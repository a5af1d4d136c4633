"""Console output as the tests compare it: the same at any terminal width and any path length.

Rich wraps what the CLI prints at the console's width (``COLUMNS``, else 80 when the output
is not a terminal): a message after a long temporary path breaks between any two words
(``no \\nsuch file``), a path longer than a line breaks inside itself, and typer's error box
adds ``│`` borders and padding to each line. Compare with both sides passed through
:func:`unwrapped`, or with :func:`printed`::

    assert printed("no such file or folder", result.output)
"""

from __future__ import annotations


def unwrapped(text: str) -> str:
    """``text`` without whitespace and box-drawing characters (U+2500–U+257F): what stays
    the same however the console wrapped it."""
    return "".join(ch for ch in text if not ch.isspace() and not "\u2500" <= ch <= "\u257f")


def printed(expected: str, output: str) -> bool:
    """Whether ``expected`` appears in ``output``, wherever the console broke its lines."""
    return unwrapped(expected) in unwrapped(output)


__all__ = ["printed", "unwrapped"]
