"""Extract a reward program from an LLM answer.

The contract (../shared/design.md): a program defines
``compute_reward(obs, action, next_obs, info) -> (reward, terms)``.

:func:`extract_program` takes the answer text and returns the program source:

1. the fenced code blocks (```` ```python ... ``` ````, or unlabelled fences; an
   unterminated last fence, as in an answer cut by ``max_tokens``, runs to the end)
   are searched for the first one that defines ``compute_reward``; if no block has
   it, every block is tried together (an answer may put helpers and the function in
   separate blocks); with no fence at all, the whole text is the program —
   unless it neither parses nor mentions ``def compute_reward``: prose is
   :class:`~pbrl.synthesis.errors.NoCodeFound`, not a syntax error;
2. it must parse (:class:`~pbrl.synthesis.errors.ProgramSyntaxError`), define
   ``compute_reward`` at top level (:class:`~pbrl.synthesis.errors.MissingRewardFunction`)
   taking four positional arguments (:class:`~pbrl.synthesis.errors.BadSignature`);
3. only the module-level imports, assignments and function definitions are kept
   (with their comments): example calls, ``print``s and ``if __name__ == ...``
   blocks around the function are dropped and listed in ``dropped``.

Nothing here runs the code; the static check (``check.py``) and the sandbox come next.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from pbrl.sandbox.check import parse

from .errors import BadSignature, MissingRewardFunction, NoCodeFound, ProgramSyntaxError, ProgramTooLarge

__all__ = ["ExtractedProgram", "REWARD_FUNCTION", "code_blocks", "extract_program"]

#: the function every reward program defines
REWARD_FUNCTION = "compute_reward"
#: longest answer parsed at all (the static check then caps the program itself)
MAX_ANSWER_CHARS = 200_000
#: its arguments, in order (names are not enforced, the count is)
REWARD_ARGS = ("obs", "action", "next_obs", "info")

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.AnnAssign)


@dataclass
class ExtractedProgram:
    """A reward program cut out of an answer.

    Args:
        source: the program (kept statements, with their comments).
        from_fence: True if it came from fenced code blocks, False for the whole text.
        dropped: one-line descriptions of the top-level statements left out.
    """

    source: str
    from_fence: bool
    dropped: list[str] = field(default_factory=list)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of ``text`` as ``(language, code)`` pairs, in order."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def _defines_reward(code: str) -> bool:
    return re.search(rf"^\s*def\s+{REWARD_FUNCTION}\s*\(", code, re.MULTILINE) is not None


def _parse(code: str) -> ast.Module:
    try:
        return parse(code, filename="reward_program.py")
    except SyntaxError as exc:
        line = (exc.text or "").rstrip("\n")
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        detail = f"  {line}\n  {' ' * max((exc.offset or 1) - 1, 0)}^" if line else ""
        raise ProgramSyntaxError(f"the reward program does not parse: {exc.msg} ({where})", detail) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise ProgramSyntaxError(f"the reward program does not parse: {type(exc).__name__}: {exc}") from None


def _check_signature(fn: ast.FunctionDef) -> None:
    """``compute_reward`` must accept exactly the call ``compute_reward(obs, action, next_obs, info)``."""
    args = fn.args
    positional = list(args.posonlyargs) + list(args.args)
    required = len(positional) - len(args.defaults)
    takes_four = (len(positional) >= 4 or args.vararg is not None) and required <= 4
    required_kwonly = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    if takes_four and not required_kwonly:
        return
    names = [a.arg for a in positional] + [f"*, {a}" for a in required_kwonly]
    raise BadSignature(
        f"{REWARD_FUNCTION} must take four positional arguments ({', '.join(REWARD_ARGS)}), "
        f"got ({', '.join(names)})"
    )


def extract_program(text: str) -> ExtractedProgram:
    """Cut the reward program out of an answer (see the module docstring).

    Raises:
        NoCodeFound: empty answer, empty code blocks, or prose without any code.
        ProgramTooLarge: an answer longer than :data:`MAX_ANSWER_CHARS`.
        ProgramSyntaxError: the code does not parse.
        MissingRewardFunction: no top-level ``compute_reward``.
        BadSignature: ``compute_reward`` does not take four positional arguments.
    """
    if not isinstance(text, str) or not text.strip():
        raise NoCodeFound("the answer is empty: no code to extract")
    if len(text) > MAX_ANSWER_CHARS:
        raise ProgramTooLarge(f"the answer has {len(text)} characters; at most {MAX_ANSWER_CHARS} are read")
    blocks = code_blocks(text)
    from_fence = bool(blocks)
    if blocks:
        python = [code for lang, code in blocks if lang in ("python", "py", "python3", "")]
        candidates = python or [code for _, code in blocks]
        chosen = next((code for code in candidates if _defines_reward(code)), None)
        code = chosen if chosen is not None else "\n\n".join(candidates)
        if not code.strip():
            raise NoCodeFound("the answer's code blocks are empty")
    else:
        code = text
        if not _defines_reward(code):
            try:
                parse(code)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                # prose (or anything else that is not Python), with no fence and no compute_reward
                raise NoCodeFound(
                    "the answer has no fenced code block and is not Python: no compute_reward to extract",
                    text.strip()[:300],
                ) from None
    tree = _parse(code)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == REWARD_FUNCTION), None)
    if fn is None:
        nested = any(isinstance(n, ast.FunctionDef) and n.name == REWARD_FUNCTION for n in ast.walk(tree))
        where = " at the top level (not inside a class or another function)" if nested else ""
        raise MissingRewardFunction(
            f"the code defines no {REWARD_FUNCTION}(obs, action, next_obs, info) function{where}"
        )
    _check_signature(fn)
    lines = code.splitlines()
    kept: list[str] = []
    dropped: list[str] = []
    for node in tree.body:
        start = node.lineno
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.decorator_list:
            start = min(d.lineno for d in node.decorator_list)
        # comments directly above a kept statement stay with it
        while start > 1 and lines[start - 2].lstrip().startswith("#"):
            start -= 1
        segment = "\n".join(lines[start - 1 : node.end_lineno])
        if isinstance(node, _KEEP):
            kept.append(segment)
        else:
            first = lines[node.lineno - 1].strip()
            dropped.append(f"line {node.lineno}: {first[:80]}")
    source = "\n\n".join(kept).strip() + "\n"
    return ExtractedProgram(source=source, from_fence=from_fence, dropped=dropped)
