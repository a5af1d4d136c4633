"""Extraction of reward programs from answers, and the static check (no processes, no training)."""

import pytest

from pbrl.sandbox.check import CheckLimits, check_program
from pbrl.synthesis.errors import (
    BadSignature,
    DisallowedConstruct,
    MissingRewardFunction,
    NoCodeFound,
    ProgramSyntaxError,
    ProgramTooLarge,
)
from pbrl.synthesis.extraction import code_blocks, extract_program
from repo_support import load_benchmark

GOOD = '''import numpy as np

def compute_reward(obs, action, next_obs, info):
    run = info["x_velocity"]
    effort = -0.1 * np.sum(np.square(action), axis=1)
    return run + effort, {"run": run, "effort": effort}
'''


def test_fenced_python_block_is_taken():
    text = f"Here is my reward.\n\n```python\n{GOOD}```\n\nIt pays for speed."
    out = extract_program(text)
    assert out.from_fence and "def compute_reward" in out.source
    check_program(out.source)


def test_whole_text_without_fence():
    out = extract_program(GOOD)
    assert not out.from_fence and out.source.strip() == GOOD.strip()


def test_first_block_defining_compute_reward_wins():
    text = "```python\nx = 1\n```\nthen\n```python\n" + GOOD + "```\n```python\ndef compute_reward(a, b, c, d):\n    return 0\n```"
    out = extract_program(text)
    assert "x_velocity" in out.source


def test_unlabelled_and_unterminated_fences():
    assert "x_velocity" in extract_program("```\n" + GOOD + "```").source
    assert "x_velocity" in extract_program("Sure:\n```python\n" + GOOD).source  # cut by max_tokens


def test_helpers_in_separate_blocks_are_joined():
    text = "```python\nimport numpy as np\nSCALE = 2.0\n```\n```python\ndef helper(x):\n    return x * SCALE\n```\n" \
           "no compute_reward here"
    with pytest.raises(MissingRewardFunction):
        extract_program(text)


def test_top_level_noise_is_dropped_and_comments_kept():
    text = GOOD + "\n# comment on the constant\nTEMP = 0.5\n\nprint(compute_reward(1, 2, 3, 4))\nif __name__ == '__main__':\n    pass\n"
    out = extract_program(text)
    assert "print(" not in out.source and "__main__" not in out.source
    assert "# comment on the constant" in out.source and "TEMP = 0.5" in out.source
    assert len(out.dropped) == 2


@pytest.mark.parametrize(
    "text, error",
    [
        ("", NoCodeFound),
        ("   \n ", NoCodeFound),
        ("```python\n\n```", NoCodeFound),
        ("I think the reward should pay for speed.", NoCodeFound),
        ("Sure!\ndef compute_reward(obs, action, next_obs, info):\n    return speed", ProgramSyntaxError),
        ("```python\ndef compute_reward(obs, action, next_obs, info)\n    return 0\n```", ProgramSyntaxError),
        ("```python\ndef reward(obs, action, next_obs, info):\n    return 0\n```", MissingRewardFunction),
        ("```python\nclass R:\n    def compute_reward(self, obs, action, next_obs, info):\n        return 0\n```", MissingRewardFunction),
        ("```python\ndef compute_reward(obs, action):\n    return 0\n```", BadSignature),
        ("```python\ndef compute_reward(obs, action, next_obs, info, *, scale):\n    return 0\n```", BadSignature),
    ],
)
def test_extraction_failures_are_named(text, error):
    with pytest.raises(error) as info:
        extract_program(text)
    assert info.value.kind == error.kind and info.value.stage == "extraction"


def test_signature_variants_accepted():
    for sig in ("obs, action, next_obs, info", "o, a, n, i", "obs, action, next_obs, info, scale=1.0", "*args"):
        extract_program(f"def compute_reward({sig}):\n    return 0\n")


def test_code_blocks_languages():
    blocks = code_blocks("```json\n{}\n```\n```py\nx=1\n```")
    assert blocks == [("json", "{}\n"), ("py", "x=1\n")]


# -- static check ---------------------------------------------------------------------------------

ALLOWED = [
    GOOD,
    "import math\nfrom numpy import linalg as la\nimport numpy.linalg\n\ndef compute_reward(obs, action, next_obs, info):\n"
    "    d = la.norm(next_obs - obs, axis=1)\n    return np.exp(-d) * math.pi, {}\n",
    "import numpy as np\nTEMP = 0.1\n\ndef _scaled(x):\n    return x / TEMP\n\ndef compute_reward(obs, action, next_obs, info):\n"
    "    terms = {k: np.tanh(_scaled(v)) for k, v in info.items() if k != 'x'}\n"
    "    total = sum(terms.values()) if terms else np.zeros(len(obs))\n"
    "    for i in range(2):\n        total = total + 0.0\n    assert total.shape == (len(obs),)\n"
    "    f = lambda x: x ** 2\n    return total - f(action).sum(axis=1), terms\n",
]


@pytest.mark.parametrize("source", ALLOWED)
def test_static_check_accepts_ordinary_reward_code(source):
    report = check_program(source)
    assert report.nodes > 0 and report.chars == len(source)


REFUSED = {
    "import os": "import os\n",
    "from os import system": "from os import system\n",
    "import subprocess": "import subprocess\n",
    "import socket": "import socket as s\n",
    "import numpy.ctypeslib": "import numpy.ctypeslib\n",
    "relative import": "from . import x\n",
    "star import": "from numpy import *\n",
    "__import__": "m = __import__('os')\n",
    "eval": "x = eval('1')\n",
    "exec": "exec('x=1')\n",
    "compile": "c = compile('1', 'f', 'eval')\n",
    "open": "f = open('/etc/passwd')\n",
    "getattr": "g = getattr(1, 'real')\n",
    "setattr": "setattr(1, 'x', 2)\n",
    "globals": "g = globals()\n",
    "vars": "v = vars()\n",
    "type": "t = type(1)\n",
    "print": "print('x')\n",
    "dunder attribute": "c = ().__class__\n",
    "subclasses": "s = ().__class__.__base__.__subclasses__()\n",
    "private attribute": "import numpy as np\nx = np._core\n",
    "frame walk": "def g():\n    yield 1\nf = g().gi_frame.f_back\n",
    "tb_frame": "x = 1\ny = x.tb_frame\n",
    "np.save": "import numpy as np\nnp.save('x', 1)\n",
    "np.load": "import numpy as np\nnp.load('x')\n",
    "tofile": "import numpy as np\nnp.zeros(1).tofile('x')\n",
    "memmap": "import numpy as np\nm = np.memmap('x')\n",
    "attribute assignment": "import numpy as np\nnp.pi = 3\n",
    "dunder name": "x = __builtins__\n",
    "dunder string": "x = '{0.__class__}'.format(1)\n",
    "class": "class A:\n    pass\n",
    "while": "while True:\n    pass\n",
    "try": "try:\n    x = 1\nexcept Exception:\n    pass\n",
    "with": "with x:\n    pass\n",
    "global": "def f():\n    global x\n",
    "del": "x = 1\ndel x\n",
    "async": "async def f():\n    pass\n",
    "keyword dunder": "f(__x=1)\n",
    "cffi dlopen": "import numpy as np\nlib = np.random.PCG64().cffi.ffi.dlopen(None)\n",
    "format string built at run time": "x = ('{0._' + '_class_' + '_}').format(1)\n",
    "bit generator ctypes": "import numpy as np\np = np.random.PCG64().ctypes.state_address\n",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_static_check_refuses(name):
    with pytest.raises(DisallowedConstruct) as info:
        check_program(REFUSED[name])
    assert info.value.kind == "disallowed" and info.value.stage == "static_check"
    assert "line" in info.value.message


def test_static_check_lists_every_violation():
    src = "import os\nimport sys\nx = eval('1')\n"
    with pytest.raises(DisallowedConstruct) as info:
        check_program(src)
    assert info.value.detail.count("\n") == 2  # three violations, one per line


def test_static_check_caps():
    with pytest.raises(ProgramTooLarge):
        check_program("x = 1\n" * 5000, CheckLimits(max_chars=1000))
    with pytest.raises(ProgramTooLarge):
        check_program("x = [" + ", ".join(["1"] * 6000) + "]\n")  # > 5000 AST nodes
    with pytest.raises(ProgramTooLarge):
        check_program("x = " + " + ".join(["1"] * 3000) + "\n")  # too deep for the parser
    with pytest.raises(ProgramSyntaxError):
        check_program("def f(:\n")
    deep = "x = " + "(" * 500 + "1" + ")" * 500 + "\n"
    with pytest.raises((ProgramSyntaxError, ProgramTooLarge)):
        check_program(deep)


def test_the_benchmarks_sparse_programs_pass_the_static_check():
    # every sandbox job runs the static check, so the benchmark's own baseline programs must pass it

    import pbrl.envs

    module = load_benchmark("reward_synthesis")
    for task in module.TASKS.values():
        check_program(module.sparse_program(pbrl.envs.cards()[task]))


def _synthesis_benchmark():

    module = load_benchmark("reward_synthesis")
    return module


def test_the_benchmarks_claims_profile_fits_two_hours(capsys):
    """Issue 17's claims profile: ≥ 5 seeds, and --estimate prints a figure within ~2 h (no runs)."""
    import json

    bench = _synthesis_benchmark()
    assert bench.PROFILES["claims"]["seeds"] >= 5
    assert bench.main(["--profile", "claims", "--estimate", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    estimate = json.loads(out[out.index("{") :])
    assert 0 < estimate["wall_clock_hours"] <= 2.0 and set(estimate["per_task_hours"]) == {"HalfCheetah", "Hopper", "Ant", "Reacher"}
    # the quick and full profiles still parse, and one worker takes about twice as long
    assert bench.main(["--quick", "--estimate"]) == 0 and bench.main(["--profile", "full", "--estimate"]) == 0
    one = bench.estimate(bench.PROFILES["claims"], ["Hopper"], 1)["wall_clock_hours"]
    assert one == pytest.approx(2 * bench.estimate(bench.PROFILES["claims"], ["Hopper"], 2)["wall_clock_hours"])


def test_the_benchmarks_statistics_name_their_methods_and_word_claims():
    import numpy as np

    bench = _synthesis_benchmark()
    rng = np.random.default_rng(0)
    results = {
        task: {"F_synth_per_seed": list(rng.normal(mu + 1, 0.3, 5)), "F_human_per_seed": list(rng.normal(mu, 0.3, 5)),
               "F_sparse_per_seed": list(rng.normal(mu - 1, 0.3, 5))}
        for task, mu in (("Hopper", 4.0), ("Reacher", 0.5))
    }  # fmt: skip
    results["Ant"] = {"F_synth_per_seed": [1.0, 2.0], "F_human_per_seed": [], "F_sparse_per_seed": [0.5, 0.7]}
    stats = bench.statistics(results, 500)
    assert stats["interval_method"] == "95% stratified bootstrap, 500 reps"
    hopper = stats["per_task"]["Hopper"]
    assert hopper["synthesized"]["seeds"] == 5 and len(hopper["synthesized"]["iqm"]) == 3
    assert hopper["P(synthesized > shipped)"]["claim"].startswith("synthesized (Hopper) > shipped (Hopper)")
    assert "P(synthesized > shipped)" not in stats["per_task"]["Ant"]  # no shipped runs there
    assert "not shown" in stats["per_task"]["Ant"]["P(synthesized > sparse)"]["claim"]  # 2 seeds
    assert stats["overall"]["P(synthesized > shipped)"]["tasks"] == ["Hopper", "Reacher"]
    table = bench.statistics_markdown(stats)
    assert "95% independent stratified bootstrap, 500 reps" in table and "IQM intervals: 95% stratified bootstrap" in table
