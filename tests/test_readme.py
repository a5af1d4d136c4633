"""The README's Python examples run as written."""

import os
import re
from repo_support import ROOT



def python_blocks():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_examples_run():
    blocks = python_blocks()
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own docs
    envs = namespace["envs"]
    assert envs.num_envs == 32 and envs.spec.id == "mylab/Slider-v0"
    obs, _ = envs.reset(seed=0)
    obs, reward, *_ , info = envs.step(envs.action_space.sample())
    assert obs.shape == (32, 2) and set(info["reward_terms"]) == {"distance", "ctrl"}
    assert info["success"].shape == (32,)


def test_quickstart_has_two_commands():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = re.search(r"## Quickstart.*?```bash\n(.*?)```", text, flags=re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(commands) == 2
    assert "pbrl run" in commands[0] and "pytest" in commands[1]
