"""What a reward program may use: the allow-lists of the static check and the runtime guard.

A reward program is numpy array maths over a batch. It may import ``numpy`` (and
its ``linalg`` and ``random`` submodules) and ``math``, reach only the functions
and constants listed here through them, and call only the builtins listed here.
Everything else is refused by name: ``numpy.ma``, ``numpy.tests``,
``numpy.testing``, ``numpy.typing``, ``numpy.lib`` (file I/O), ``numpy.f2py``,
``numpy.distutils``, ``numpy.ctypeslib``, ``numpy.random.mtrand`` and every other
submodule, whose imports reach ``operator``, ``sysconfig``, ``pathlib``,
``inspect`` or ``functools``.

Standard library only (the reward worker loads it before its jail closes).
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_TERMS",
    "TERM_NAME",
    "ALLOWED_BUILTINS",
    "ALLOWED_MODULES",
    "DENIED_ATTRIBUTES",
    "MATH_NAMES",
    "MODULE_NAMES",
    "NUMPY_LINALG_NAMES",
    "NUMPY_NAMES",
    "NUMPY_RANDOM_NAMES",
    "allowed_leaf",
]

#: most named terms a reward program may return
MAX_TERMS = 16
#: how a term name must look (it becomes a log tag, a JSON key and prompt text)
TERM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")

#: modules a program may import; ``import numpy.linalg`` and ``from numpy import linalg`` too
ALLOWED_MODULES = frozenset({"numpy", "numpy.linalg", "numpy.random", "math"})

#: numpy's array maths: creation, elementwise functions, reductions, shapes, types, constants
NUMPY_NAMES = frozenset(
    """
    array asarray asanyarray ascontiguousarray copy zeros ones full zeros_like ones_like full_like
    arange linspace logspace geomspace eye identity diag diagonal tri tril triu meshgrid indices
    stack vstack hstack dstack column_stack concatenate append split array_split expand_dims squeeze
    reshape ravel transpose swapaxes moveaxis broadcast_to broadcast_arrays atleast_1d atleast_2d
    atleast_3d tile repeat flip fliplr flipud roll rot90 take take_along_axis choose compress
    where select clip pad sort argsort partition argpartition searchsorted unique nonzero
    flatnonzero argwhere count_nonzero extract
    abs absolute fabs sign signbit copysign sqrt cbrt square exp expm1 exp2 log log1p log2 log10
    logaddexp logaddexp2 power float_power sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh
    arcsinh arccosh arctanh deg2rad rad2deg degrees radians hypot sinc heaviside maximum minimum
    fmax fmin floor ceil round around rint fix trunc mod fmod remainder divmod divide true_divide
    floor_divide multiply add subtract negative positive reciprocal modf ldexp frexp
    dot vdot matmul inner outer einsum cross tensordot kron trace
    sum prod mean average std var median percentile quantile min max amin amax ptp argmin argmax
    nansum nanprod nanmean nanstd nanvar nanmedian nanmin nanmax nanargmin nanargmax nanpercentile
    nanquantile cumsum cumprod nancumsum nancumprod diff ediff1d gradient convolve correlate
    interp histogram digitize bincount
    all any logical_and logical_or logical_not logical_xor isfinite isnan isinf isneginf isposinf
    isclose allclose array_equal nan_to_num greater greater_equal less less_equal equal not_equal
    bitwise_and bitwise_or bitwise_xor invert shape ndim size
    float64 float32 float16 int64 int32 int16 int8 uint8 bool_ ndarray finfo iinfo
    pi e inf nan newaxis euler_gamma
    linalg random
    """.split()
)

#: ``numpy.linalg``: norms, solves and decompositions
NUMPY_LINALG_NAMES = frozenset(
    "norm det slogdet inv pinv solve lstsq eig eigh eigvals eigvalsh svd qr cholesky matrix_rank "
    "matrix_power multi_dot cond LinAlgError".split()
)

#: ``numpy.random``: only a generator made by the program itself (seeded or not)
NUMPY_RANDOM_NAMES = frozenset({"default_rng"})

#: ``math``: every public function and constant (the module has no I/O)
MATH_NAMES = frozenset(
    """
    acos acosh asin asinh atan atan2 atanh cbrt ceil comb copysign cos cosh degrees dist e erf erfc
    exp exp2 expm1 fabs factorial floor fmod frexp fsum gamma gcd hypot inf isclose isfinite isinf
    isnan isqrt lcm ldexp lgamma log log10 log1p log2 modf nan nextafter perm pi pow prod radians
    remainder sin sinh sqrt tan tanh tau trunc ulp
    """.split()
)

#: module path -> the names a program may reach through it
MODULE_NAMES = {
    "numpy": NUMPY_NAMES,
    "numpy.linalg": NUMPY_LINALG_NAMES,
    "numpy.random": NUMPY_RANDOM_NAMES,
    "math": MATH_NAMES,
}

#: builtins a program may use; every other builtin name is refused
ALLOWED_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float",
        "frozenset", "int", "isinstance", "len", "list", "map", "max", "min",
        "pow", "range", "reversed", "round", "set", "slice", "sorted", "str",
        "sum", "tuple", "zip", "True", "False", "None",
        "ArithmeticError", "AssertionError", "Exception", "FloatingPointError",
        "IndexError", "KeyError", "RuntimeError", "TypeError", "ValueError",
        "ZeroDivisionError",
    }
)

#: attribute names refused on any object (besides every name starting with "_"): what reaches
#: files, raw memory, the interpreter or a string-named attribute from an array, a generator or
#: a function the allow-lists hand out
DENIED_ATTRIBUTES = frozenset(
    {
        # numpy file I/O and raw memory
        "save", "savez", "savez_compressed", "savetxt", "load", "loadtxt", "genfromtxt",
        "fromfile", "tofile", "fromregex", "memmap", "dump", "dumps", "loads", "DataSource",
        "ctypes", "ctypeslib", "lib", "core", "f2py", "distutils", "testing", "compat", "tests",
        "typing", "ma", "char", "rec", "strings", "polynomial", "mtrand", "bit_generator",
        "setflags", "base", "data", "getfield", "setfield", "put", "itemset", "resize",
        # numpy's bit generators hand out a cffi FFI (dlopen + cdef = any C function) when cffi is installed
        "cffi", "ffi", "dlopen", "cdef", "capsule", "lock",
        "show_config", "show_runtime", "get_include",
        # escapes to the interpreter
        "os", "sys", "subprocess", "shutil", "socket", "pickle", "builtins", "importlib",
        "operator", "functools", "inspect", "sysconfig", "pathlib", "io", "posix", "nt",
        "system", "popen", "spawn", "fork", "exec", "eval", "compile", "open",
        "import_module", "globals", "locals", "mro", "attrgetter", "methodcaller", "itemgetter",
        # str.format reads attributes named by a string built at run time ('{0._' + '_class_' + '_}')
        "format", "format_map",
        # frames, code objects, tracebacks, generators, functions
        "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace",
        "tb_frame", "tb_next", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame",
        "cr_code", "ag_frame", "ag_code", "co_code", "co_consts", "func_globals",
        "func_code", "with_traceback", "pyfunc",
    }
)


def allowed_leaf(module: str, name: str) -> bool:
    """Whether ``module.name`` is something a program may reach (a function, a constant, a type,
    or one of the allowed submodules)."""
    return name in MODULE_NAMES.get(module, ())
