"""Reward synthesis: an Eureka / Text2Reward loop with any OpenAI-compatible LLM or an offline search.

``pbrl synthesize --env pbrl/Ant-v5 --backend openai --model NAME [--base-url URL]``
searches over reward programs: a proposer writes them from the task card, each is
checked, trained on in a sandbox, scored on the task's own metric by trusted code,
and the statistics of its terms are fed back for the next round. With
``--backend offline`` a built-in search procedure (no language model) proposes the
programs, through the same path.

One concern per module:

==================  ==========================================================================
``prompts``         the prompts, from editable template files (``templates/``)
``extraction``      the program out of an answer (fenced block, else the whole text)
``params``          parametric mode: JSON weights of the card's terms, validated, compiled
``check``           the static check (an AST allow-list)
``guard``           the runtime guard inside the worker (restricted builtins and imports)
``jail``            the worker's OS layer: namespaces, task cap, hidden dirs, read-only fs, rlimits
``worker``          the sandboxed worker process (the only place a program ever runs)
``sandbox``         the trusted side: start, contain and time out workers; validate their output
``weights``         the weights file a worker hands back, and its validated loading
``fitness``         the task metric and the trusted evaluation on fresh seeds
``evaluator``       the trusted evaluation process
``jobs``            probe and train jobs (what the executor runs)
``executor``        local process pool or Ray
``reflection``      reward reflection: term statistics along training, Eureka's advice
``proposers``       the proposer interface and the LLM proposer
``offline``         the offline proposer (a search procedure, not a language model)
``backends``        the OpenAI-compatible backend: timeouts, bounded retries, n emulation
``ledger``          token usage and cost
``store``           the run folder
``loop``            the loop: K samples × I iterations, regeneration, final retraining
``teacher``         the LLM teacher for preference learning (``make_teacher("llm", ...)``)
``errors``          every named failure
==================  ==========================================================================

Importing this package registers the ``"llm"`` teacher; it imports neither torch
nor the ``openai`` package (those load when a backend or a worker needs them).
"""

from .errors import BackendError, SynthesisFailure
from . import teacher as _teacher  # noqa: F401  (registers the "llm" teacher)

__all__ = ["BackendError", "SynthesisFailure"]
