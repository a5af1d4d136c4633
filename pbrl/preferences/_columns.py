"""Named numpy columns sharing one row range: the trajectory buffer's storage.

Rows are appended at the back and dropped at the front (the buffer evicts its oldest
episodes), both amortised O(1) per row; a row keeps its *logical* index while the
arrays are compacted underneath it.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


class Columns:
    """Columns named in ``specs`` with one live row range.

    Args:
        specs: column name -> (per-row shape, dtype).
        capacity: rows allocated at first.

    :meth:`view` gives a column's live rows; ``data`` holds the physical arrays, whose
    row ``i`` is logical row ``base + i``.
    """

    def __init__(self, specs: Mapping[str, tuple[tuple[int, ...], Any]], capacity: int = 1024):
        self.specs = dict(specs)
        self.data = {k: np.zeros((capacity, *shape), dtype=dt) for k, (shape, dt) in self.specs.items()}
        self._lo = 0
        self._hi = 0
        self.base = 0  # logical index of physical row 0

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def first_logical(self) -> int:
        return self.base + self._lo

    def view(self, name: str) -> np.ndarray:
        return self.data[name][self._lo : self._hi]

    def append(self, rows: Mapping[str, np.ndarray]) -> None:
        n = len(next(iter(rows.values()))) if rows else 0
        if n == 0:
            return
        self._reserve(n)
        for k in self.specs:
            self.data[k][self._hi : self._hi + n] = rows[k]
        self._hi += n

    def drop_front(self, n: int) -> None:
        self._lo += n
        if self._lo > (self._hi - self._lo) and self._lo > 1024:
            self._compact(len(next(iter(self.data.values()))))

    def _compact(self, capacity: int) -> None:
        live = self._hi - self._lo
        for k, arr in self.data.items():
            new = np.zeros((capacity, *arr.shape[1:]), dtype=arr.dtype)
            new[:live] = arr[self._lo : self._hi]
            self.data[k] = new
        self.base += self._lo
        self._lo, self._hi = 0, live

    def _reserve(self, n: int) -> None:
        cap = len(next(iter(self.data.values())))
        if self._hi + n <= cap:
            return
        live = self._hi - self._lo
        new_cap = cap
        while live + n > new_cap // 2:  # leave at least half free: amortised O(1)
            new_cap *= 2
        self._compact(new_cap)
