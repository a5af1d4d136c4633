"""``pbrl configs list|show|copy`` and ``pbrl train NAME`` / ``pbrl sweep NAME``: the example
configs ship in the package and are found by name from any folder."""

from __future__ import annotations

import importlib.resources
import os

import pytest
from typer.testing import CliRunner

from pbrl.cli.main import app
from pbrl.runs.configfile import ConfigFileError, find_config_file, load_experiment, packaged_config, packaged_configs

runner = CliRunner()
PACKAGED = importlib.resources.files("pbrl") / "configs"


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())


def test_the_configs_are_package_data():
    """Found through importlib.resources (as in a wheel), one name per file, ``ppo.toml`` before ``ppo.yaml``."""
    shipped = sorted(f.name for f in PACKAGED.iterdir() if f.name.endswith((".toml", ".yaml")))
    found = packaged_configs()
    assert sorted(os.path.basename(p) for p in found.values()) == shipped
    assert {"sac", "ppo", "ppo.yaml", "prefppo", "pebble", "iql", "piql"} <= set(found)
    assert found["ppo"].endswith("ppo.toml") and packaged_config("ppo.toml") == found["ppo"]
    assert (PACKAGED / "README.md").is_file()


def test_list_names_agent_task_and_description():
    code, out = _run("configs", "list")
    assert code == 0, out
    for name in packaged_configs():
        assert f" {name} " in out, name
    assert "pbrl/HalfCheetah-v5" in out and "pbrl/hopper/medium-replay-v0" in out
    assert "SAC on HalfCheetah with the task's true reward" in out


def test_show_prints_the_file():
    code, out = _run("configs", "show", "sac")
    with open(packaged_config("sac"), encoding="utf-8") as f:
        assert code == 0 and out == " ".join(f.read().split())
    code, yaml = _run("configs", "show", "ppo.yaml")
    assert code == 0 and "agent: ppo" in yaml


def test_show_an_unknown_name_lists_the_packaged_ones():
    code, out = _run("configs", "show", "sacc")
    assert code == 2 and "error: sacc: no packaged config of that name (did you mean 'sac'?)" in out
    assert "packaged configs: bc, " in out and "Traceback" not in out


def test_copy_to_the_working_directory_and_refuse_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = _run("configs", "copy", "sac")
    assert code == 0 and "wrote sac.toml" in out, out
    with open(packaged_config("sac"), encoding="utf-8") as f:
        assert (tmp_path / "sac.toml").read_text(encoding="utf-8") == f.read()
    (tmp_path / "sac.toml").write_text("# mine\n")
    code, out = _run("configs", "copy", "sac")
    assert code == 2 and "error: sac.toml already exists; pass --force to overwrite it" in out
    assert (tmp_path / "sac.toml").read_text() == "# mine\n"
    code, out = _run("configs", "copy", "sac", "--force")
    assert code == 0 and (tmp_path / "sac.toml").read_text() != "# mine\n"


def test_copy_to_a_file_or_into_a_folder(tmp_path):
    code, out = _run("configs", "copy", "ppo.yaml", tmp_path / "mine.yaml")
    assert code == 0 and (tmp_path / "mine.yaml").read_text().startswith("# The same experiment as ppo.toml")
    (tmp_path / "into").mkdir()
    code, out = _run("configs", "copy", "pebble", tmp_path / "into")
    assert code == 0 and (tmp_path / "into" / "pebble.toml").is_file()
    code, out = _run("configs", "copy", "pebble", tmp_path / "no" / "such" / "x.toml")
    assert code == 2 and "error: cannot write" in out and "Traceback" not in out
    code, out = _run("configs", "copy", "nope", tmp_path / "n.toml")
    assert code == 2 and "no packaged config of that name" in out and not (tmp_path / "n.toml").exists()


def test_a_name_resolves_to_the_packaged_config_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("sac", "sac.toml"):
        exp = load_experiment(name, ["steps=1000"])
        assert exp.source == packaged_config("sac") and exp.config.env == "pbrl/HalfCheetah-v5"
        assert exp.config.steps == 1000 and exp.seeds == [0, 1, 2, 3, 4]
    assert load_experiment("ppo.yaml").config == load_experiment("ppo").config


def test_a_file_here_wins_over_the_packaged_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sac.toml").write_text('task = "pbrl/Hopper-v5"\nagent = "sac"\n')
    assert load_experiment("sac.toml").config.env == "pbrl/Hopper-v5"
    assert load_experiment("sac").config.env == "pbrl/Hopper-v5"  # the bare name means the edited copy here
    assert find_config_file("ppo") == packaged_config("ppo")
    (tmp_path / "ppo").mkdir()  # an existing path wins, even a folder
    with pytest.raises(ConfigFileError, match="^ppo: a config file must end in .toml, .yaml or .yml"):
        load_experiment("ppo")


def test_an_unknown_name_lists_the_packaged_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigFileError) as info:
        load_experiment("sacc")
    message = str(info.value)
    assert message.startswith("sacc: no such config file, nor a packaged config of that name (did you mean 'sac'?)")
    assert ", ".join(packaged_configs()) in message and "pbrl configs list" in message
    with pytest.raises(ConfigFileError, match="no such config file$"):
        load_experiment(str(tmp_path / "sac.toml"))  # a path with a folder is never looked up by name


def test_train_by_name_from_another_folder(tmp_path, monkeypatch):
    """``pbrl train sac`` reads the packaged file (the overrides' check fails before any training)."""
    monkeypatch.chdir(tmp_path)
    code, out = _run("train", "sac", "--seed", 0, "--set", "steps=0")
    assert code == 2 and f"{packaged_config('sac')}: " in out and "steps must be an integer >= 1, got 0" in out, out
    code, out = _run("train", "sacc")
    assert code == 2 and "sacc: no such config file, nor a packaged config" in out and "Traceback" not in out


def test_sweep_by_name_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = _run("sweep", "sac", "--seeds", 2, "--steps", 1000, "--dry-run", "--out", tmp_path / "sw")
    assert code == 0, out
    assert "ready pbrl/HalfCheetah-v5 seed 0" in out and "ready pbrl/HalfCheetah-v5 seed 1" in out
