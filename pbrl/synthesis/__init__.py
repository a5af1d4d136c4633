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
``worker``          the sandboxed training worker (programs run only there; the static check,
                    guard and OS jail are :mod:`pbrl.sandbox`'s)
``sandbox``         the trusted side: start, contain and time out workers; validate their output
``weights``         the weights file a worker hands back, and its validated loading
``fitness``         the task metric and the trusted evaluation on fresh seeds
``evaluator``       the trusted evaluation process
``jobs``            probe and train jobs (what the executor runs)
``executor``        local process pool or Ray
``reflection``      reward reflection: term statistics along training, Eureka's advice
``rollouts``        the trusted evaluation's episodes, random-action episodes, segments cut from them
``icpl``            ICPL: a teacher compares the candidates' rollouts; the preferred one is the base
``heldout``         the reward-hacking check: held-out labels, programs scored on them in the sandbox
``proposers``       the proposer interface and the LLM proposer
``search``          the offline proposer: a search over the card's terms, not a language model
``store``           the run folder
``loop``            the loop: K samples × I iterations, regeneration, final retraining
``errors``          every named failure
==================  ==========================================================================

The LLM client (``OpenAIBackend``, the token ledger) is :mod:`pbrl.llm`, shared with the LLM
teacher (:mod:`pbrl.teachers.llm`). Importing this package imports neither torch nor the
``openai`` package (those load when a backend or a worker needs them).
"""

from .errors import BackendError, SynthesisFailure

__all__ = ["BackendError", "SynthesisFailure"]
