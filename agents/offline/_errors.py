"""The offline agents' input errors, importable without torch (the CLI names them before it imports torch)."""


class OfflineDataError(ValueError):
    """A dataset that an offline agent cannot train on (names the dataset and the problem)."""


class PreferenceReferenceError(ValueError):
    """Preferences that refer to episodes or steps the dataset does not have (or to another dataset)."""
