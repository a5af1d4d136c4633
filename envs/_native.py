"""In-place access to the MjData of each simulation of a persistent ``mujoco.batch.Batch``.

``mujoco.batch`` (MuJoCo 4.0) does not compute ``cfrc_ext`` in a step, and Gymnasium's
v5 envs call ``mj_rnePostConstraint`` after ``mj_step``. The portable way to do that
per sub-env is ``Batch.get_data`` (a copy of the whole MjData) and ``mj_rnePostConstraint`` on the copy. :class:`PersistentData` instead
runs ``mj_rnePostConstraint`` on each simulation's own MjData, which a persistent batch
keeps between calls, and reads ``cfrc_ext`` from it, without the copy (the cost of
both: BENCHMARKS.md, "Ant's contact forces").

It reaches those MjData through MuJoCo's C API (``mjb_apply`` hands each simulation's
``mjData*`` to a function once, at attach time) with ``ctypes``, so it depends on
details no public Python API promises: the pybind11 layout of ``mujoco._batch.Batch``
and the position of the ``cfrc_ext`` pointer in ``mjData``. :meth:`PersistentData.attach`
therefore runs only on MuJoCo versions it was checked with (:data:`CHECKED_VERSIONS`)
and checks every assumption it can against independent values (the batch's size, its
state rows' address, each MjData's ``qpos`` against the state rows) before it is used;
when any check fails it returns None and the engine keeps the portable loop, which
gives the same numbers. ``PBRL_PORTABLE_CFRC=1`` forces the portable loop.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import sys

import mujoco
import numpy as np

#: MuJoCo versions on which the layout assumptions were checked (tests/envs/test_native_cfrc.py)
CHECKED_VERSIONS = ("4.0.1",)

#: how far into an mjData struct its array pointers are looked for (bytes); the struct
#: holds large inline arrays (solver statistics) before them
_SCAN_BYTES = 1 << 20
_SCAN_CHUNK = 4096  # words per piece of the scan

_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
_lib: ctypes.CDLL | None = None


def _library() -> ctypes.CDLL | None:
    """MuJoCo's shared library, the one the ``mujoco`` package loaded, with the used signatures."""
    global _lib
    if _lib is not None:
        return _lib
    folder = os.path.dirname(mujoco.__file__)
    names = sorted(glob.glob(os.path.join(folder, "libmujoco.so*")) + glob.glob(os.path.join(folder, "libmujoco*.dylib")))
    if not names:
        return None
    lib = ctypes.CDLL(names[0])
    vp, i = ctypes.c_void_p, ctypes.c_int
    for name, restype, argtypes in (
        ("mjb_nsim", i, [vp]),
        ("mjb_nstate", i, [vp]),
        ("mjb_persistent", i, [vp]),
        ("mjb_state", vp, [vp]),
        ("mjb_apply", i, [vp, vp, i, vp, vp, i]),
        ("mj_rnePostConstraint", None, [vp, vp]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    _lib = lib
    return lib


def _word_offset(address: int, target: int, limit: int = _SCAN_BYTES) -> int | None:
    """Byte offset of the first 8-byte word equal to ``target`` from ``address``, read in pieces."""
    for start in range(0, limit, 8 * _SCAN_CHUNK):
        words = np.ctypeslib.as_array((ctypes.c_uint64 * _SCAN_CHUNK).from_address(address + start))
        hits = np.flatnonzero(words == np.uint64(target))
        if hits.size:
            return start + 8 * int(hits[0])
    return None


def _pointer_offset(model: mujoco.MjModel, field: str) -> int | None:
    """Where mjData keeps the pointer to array ``field``: the same offset in two fresh MjData."""
    probes = [mujoco.MjData(model) for _ in range(2)]
    offsets = {_word_offset(d._address, getattr(d, field).ctypes.data) for d in probes}
    if len(offsets) != 1:
        return None
    return offsets.pop()


class PersistentData:
    """Each simulation's own MjData in a persistent batch (see the module's docstring)."""

    def __init__(self, lib: ctypes.CDLL, handle: int, model: mujoco.MjModel, datas: list[int], cfrc_views: list[np.ndarray]):
        self._rne = lib.mj_rnePostConstraint
        self._model = model  # the model the sims read (set_models): kept alive here
        self._datas = datas
        self._cfrc = cfrc_views
        # mjb_apply runs mj_rnePostConstraint on the batch's own threads, in parallel and
        # without Python per sub-env. mjb_apply calls func(m, d, sim, arg); a function of
        # (m, d) ignores the two extra arguments under the x86-64 and AArch64 calling
        # conventions (they are passed in registers), so it is used there only.
        self._apply = None
        if platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64"):
            self._apply, self._handle = lib.mjb_apply, handle
            self._rne_address = ctypes.cast(lib.mj_rnePostConstraint, ctypes.c_void_p).value
            self._nsim = len(datas)

    @classmethod
    def attach(cls, batch, model: mujoco.MjModel) -> "PersistentData | None":
        """The in-place accessor for ``batch`` (persistent, running on ``model``), or None
        where an assumption cannot be checked (then use ``get_data``)."""
        if os.environ.get("PBRL_PORTABLE_CFRC", "") not in ("", "0"):
            return None
        if mujoco.__version__ not in CHECKED_VERSIONS or sys.implementation.name != "cpython":
            return None
        if ctypes.sizeof(ctypes.c_void_p) != 8 or not batch.persistent:
            return None
        try:
            return cls._attach(batch, model)
        except (OSError, AttributeError, ValueError, TypeError):
            return None

    @classmethod
    def _attach(cls, batch, model):
        lib = _library()
        if lib is None:
            return None
        # pybind11 keeps a pointer to the C++ object after the Python object header; that
        # object's first member is the mjBatch*. Checked against three independent values.
        holder = ctypes.c_void_p.from_address(id(batch._b) + object.__basicsize__).value
        if not holder:
            return None
        handle = ctypes.c_void_p.from_address(holder).value
        if not handle:
            return None
        nsim = batch.nsim
        if (
            lib.mjb_state(handle) != batch.state.ctypes.data
            or lib.mjb_nsim(handle) != nsim
            or lib.mjb_nstate(handle) != batch.nstate
            or lib.mjb_persistent(handle) != 1
        ):
            return None
        # Each simulation's mjData*, as mjb_apply hands it over (once, here).
        found = np.zeros(nsim, dtype=np.uint64)

        def record(_m, d, sim, _arg):
            if 0 <= sim < nsim:
                found[sim] = d

        callback = _FUNC(record)
        if lib.mjb_apply(handle, None, 0, callback, None, 0) != 0:
            return None
        datas = [int(a) for a in found]
        if 0 in datas or len(set(datas)) != nsim:
            return None
        cfrc_at, qpos_at = _pointer_offset(model, "cfrc_ext"), _pointer_offset(model, "qpos")
        if cfrc_at is None or qpos_at is None:
            return None
        nq, cfrc_size = model.nq, model.nbody * 6
        qpos_rows = batch.bind("qpos")
        views = []
        for sim, d in enumerate(datas):
            qpos = np.ctypeslib.as_array((ctypes.c_double * nq).from_address(ctypes.c_void_p.from_address(d + qpos_at).value))
            if not np.array_equal(qpos, qpos_rows[sim]):  # the MjData is not the one of this state row
                return None
            address = ctypes.c_void_p.from_address(d + cfrc_at).value
            views.append(np.ctypeslib.as_array((ctypes.c_double * cfrc_size).from_address(address)).reshape(model.nbody, 6))
        return cls(lib, handle, model, datas, views)

    def rne_post_constraint(self, rows) -> None:
        """Run ``mj_rnePostConstraint`` on the MjData of simulations ``rows`` (as Gymnasium
        does after ``mj_step``); call only while the batch is idle."""
        if self._apply is not None and len(rows):
            if len(rows) == self._nsim:
                failed = self._apply(self._handle, None, 0, self._rne_address, None, 0)
            else:
                ids = np.ascontiguousarray(rows, dtype=np.int32)
                failed = self._apply(self._handle, ids.ctypes.data, ids.size, self._rne_address, None, 0)
            if failed:
                raise RuntimeError(f"mj_rnePostConstraint failed in {failed} simulation(s) of the batch")
            return
        rne, datas, model = self._rne, self._datas, self._model._address
        for i in rows:
            rne(model, datas[i])

    def read_cfrc_ext(self, rows, out: np.ndarray) -> None:
        """Copy ``cfrc_ext`` of simulations ``rows`` into ``out[rows]``."""
        views = self._cfrc
        if len(rows) == len(views):
            np.stack(views, out=out)
        else:
            for i in rows:
                out[i] = views[i]
