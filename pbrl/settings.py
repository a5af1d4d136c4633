"""What every kind of pbrl setting shares (agent hyperparameters, preference options, run
configs, synthesis options): the one error raised for a setting that cannot be used."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot be used: an unknown key, a wrong type, a value out of range,
    an unknown task, agent or hyperparameter. The message names the key or value."""


__all__ = ["ConfigError"]
