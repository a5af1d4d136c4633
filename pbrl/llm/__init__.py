"""The LLM client pbrl's language-model features share: reward synthesis' LLM proposer
and the LLM teacher.

* :mod:`.backends` — :class:`~.backends.OpenAIBackend`, an OpenAI-compatible
  chat-completions client with timeouts, bounded retries and backoff
  (:class:`~.backends.LLMBackend` is the interface);
* :mod:`.ledger` — :class:`~.ledger.TokenLedger`, every attempt's tokens, status and latency;
* :mod:`.errors` — what a backend raises;
* :mod:`.templates` — prompt templates: package data, overridable from a folder.

Importing this package does not import ``openai``; :class:`OpenAIBackend` does on first use.
"""
