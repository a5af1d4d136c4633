"""Each sub-env's random generator, stored compactly: :class:`GeneratorBank`.

Gymnasium gives every env its own ``np.random.Generator`` (``seeding.np_random``), and
pbrl's batched envs keep that contract: sub-env ``i`` seeded with ``s`` draws its
resets from ``seeding.np_random(s)``, bit for bit. A Generator object, with its PCG64
bit generator, seed sequence and lock, takes about 0.9 KB; at N = 4096 sub-envs of a
small task that is most of what the env adds to the physics' own memory. The bank
keeps each generator as its PCG64 state (six integers in arrays) and makes a Generator
only while a reset draws from it, or for good once user code asks for it
(``env.np_random``, ``get_attr("np_random")``) or hands one in: such a generator is
then the sub-env's own, as in Gymnasium, and every later reset draws from it.
"""

from __future__ import annotations

import numpy as np
from gymnasium import error

_MASK64 = (1 << 64) - 1


def check_seed(seed) -> None:
    """Raise ``gymnasium.error.Error`` for a seed ``seeding.np_random`` refuses (same messages)."""
    if seed is not None and not (isinstance(seed, int) and seed >= 0):
        if isinstance(seed, int) is False:
            raise error.Error(f"Seed must be a python integer, actual type: {type(seed)}")
        raise error.Error(f"Seed must be greater or equal to zero, actual value: {seed}")


def entropy_seed() -> int:
    """The seed ``seeding.np_random(None)`` would report: fresh entropy from the OS."""
    return int(np.random.SeedSequence().entropy)


class GeneratorBank:
    """``num_envs`` generators, indexable like a list of ``np.random.Generator``.

    ``bank[i]`` gives sub-env ``i``'s generator (made on first access and kept: the
    caller may draw from it); ``bank[i] = g`` makes ``g`` its generator.
    :meth:`seed` gives it ``seeding.np_random(seed)``'s stream without building it.
    :meth:`borrow` / :meth:`give_back` are the engine's cheap path for a reset's draws.
    """

    def __init__(self, num_envs: int):
        n = int(num_envs)
        self.num_envs = n
        # the seed of a not-yet-used generator (None: fresh entropy when first built)
        self._seeds: list[int | None] = [None] * n
        self._fresh = np.ones(n, dtype=bool)  # no draw yet: build from _seeds[i]
        # PCG64 state: state (hi, lo), inc (hi, lo); and the cached half of a 64-bit draw
        self._pcg = np.zeros((n, 4), dtype=np.uint64)
        self._has_uint32 = np.zeros(n, dtype=np.uint8)
        self._uinteger = np.zeros(n, dtype=np.uint32)
        self._live: dict[int, np.random.Generator] = {}
        self._scratch = np.random.Generator(np.random.PCG64(0))

    def __len__(self) -> int:
        return self.num_envs

    def _index(self, i) -> int:
        i = int(i)
        if not -self.num_envs <= i < self.num_envs:
            raise IndexError(f"sub-env index {i} out of range for {self.num_envs} sub-envs")
        return i % self.num_envs

    def seed(self, i, seed: int | None) -> int:
        """Give sub-env ``i`` the generator ``seeding.np_random(seed)``; return its seed
        (the entropy drawn for ``None``), as ``np_random_seed`` reports it."""
        check_seed(seed)
        i = self._index(i)
        used = entropy_seed() if seed is None else int(seed)
        self._live.pop(i, None)
        self._seeds[i] = used
        self._fresh[i] = True
        return used

    def __getitem__(self, i) -> np.random.Generator:
        i = self._index(i)
        live = self._live.get(i)
        if live is None:
            live = self._live[i] = self._build(i, np.random.Generator(np.random.PCG64(0)))
        return live

    def __setitem__(self, i, generator: np.random.Generator) -> None:
        if not isinstance(generator, np.random.Generator):
            raise TypeError(f"a sub-env's generator must be a numpy Generator, got {type(generator).__name__}")
        self._live[self._index(i)] = generator

    def __iter__(self):
        return (self[i] for i in range(self.num_envs))

    def borrow(self, i: int) -> np.random.Generator:
        """Sub-env ``i``'s generator for one reset's draws; pass it to :meth:`give_back` next."""
        live = self._live.get(i)
        if live is not None:
            return live
        return self._build(i, self._scratch)

    def give_back(self, i: int, generator: np.random.Generator) -> None:
        """Store the state a borrowed generator drew to (nothing for a sub-env's own)."""
        if self._live.get(i) is generator:
            return
        state = generator.bit_generator.state
        pcg = state["state"]
        s, inc = pcg["state"], pcg["inc"]
        self._pcg[i] = (s >> 64, s & _MASK64, inc >> 64, inc & _MASK64)
        self._has_uint32[i] = state["has_uint32"]
        self._uinteger[i] = state["uinteger"]
        self._fresh[i] = False
        self._seeds[i] = None

    def _build(self, i: int, generator: np.random.Generator) -> np.random.Generator:
        """``generator`` (a PCG64 one) set to sub-env ``i``'s state."""
        if self._fresh[i]:
            bit_generator = np.random.PCG64(np.random.SeedSequence(self._seeds[i]))
            if generator is self._scratch:
                generator.bit_generator.state = bit_generator.state
                return generator
            return np.random.Generator(bit_generator)
        hi, lo, inc_hi, inc_lo = (int(v) for v in self._pcg[i])
        generator.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": (hi << 64) | lo, "inc": (inc_hi << 64) | inc_lo},
            "has_uint32": int(self._has_uint32[i]),
            "uinteger": int(self._uinteger[i]),
        }
        return generator
