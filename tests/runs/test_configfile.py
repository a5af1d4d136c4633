"""Experiment config files (``pbrl train CONFIG``): the schema, clear errors before any work, overrides, examples."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from pbrl.cli.main import app
from pbrl.runs.config import TrainConfig
from pbrl.runs.configfile import ConfigFileError, apply_sets, build_experiment, load_experiment, packaged_config, packaged_configs, read_config_file
from pbrl.runs.offline import OfflineTrainConfig

from offline_support import datasets_root, make_hopper_dataset, make_pendulum_dataset
from repo_support import ROOT

EXAMPLES = sorted(packaged_configs().values())
EXAMPLE_DATASET = "pbrl/hopper/medium-replay-v0"
EXAMPLE_STORE = "pbrl_hopper_medium-replay-v0.prefs.sqlite"
runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())


def _write(path, text):
    path.write_text(text)
    return str(path)


# -- the examples ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_data(tmp_path_factory):
    """The dataset the offline examples name (tiny, random Hopper data) and a stand-in preference store."""
    root = tmp_path_factory.mktemp("minari")
    work = tmp_path_factory.mktemp("work")
    with datasets_root(root):
        make_hopper_dataset(EXAMPLE_DATASET, steps=1000)
        (work / EXAMPLE_STORE).write_bytes(b"")  # resolve checks only that the store exists
        yield str(work)


def test_there_is_an_example_for_every_agent():
    agents = {read_config_file(p).get("agent") for p in EXAMPLES}
    assert {"ppo", "sac", "iql", "piql", "cpl", "oppo", "bc"} <= agents
    rewards = {(read_config_file(p).get("agent"), read_config_file(p).get("reward")) for p in EXAMPLES}
    assert ("ppo", "learned") in rewards and ("sac", "learned") in rewards  # PrefPPO and PEBBLE
    assert any(p.endswith(".yaml") for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_every_example_config_resolves(path, example_data, monkeypatch):
    monkeypatch.chdir(example_data)  # relative paths (preference stores) are relative to the working directory
    exp = load_experiment(path)
    resolved = exp.resolve()  # every check of a real run, nothing trained
    cfg = resolved["config"]
    if exp.offline:
        assert isinstance(exp.config, OfflineTrainConfig)
        assert resolved["dataset"]["id"] == EXAMPLE_DATASET and cfg["env"] == "pbrl/Hopper-v5"
    else:
        assert isinstance(exp.config, TrainConfig)
        assert cfg["env"].startswith("pbrl/") and cfg["steps"] >= 1
        if cfg["reward"] == "learned":
            assert resolved["reward"]["algorithm"] == {"ppo": "prefppo", "sac": "pebble"}[cfg["agent"]]
            assert "preference" in resolved
    for cell in exp.cells():
        assert cell.seed in (exp.seeds or [exp.config.seed])


def test_toml_and_yaml_examples_say_the_same():
    toml, yaml = load_experiment(packaged_config("ppo")), load_experiment(packaged_config("ppo.yaml"))
    assert toml.config == yaml.config


# -- errors, before any work -----------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("a.toml", 'task = "pbrl/Hopper-v5"\nagent = "ppo"\nstpes = 100\n', "unknown key 'stpes' (did you mean 'steps'?) (line 3); valid keys:"),
        ("a.yaml", "task: pbrl/Hopper-v5\nevall_freq: 10\n", "unknown key 'evall_freq' (did you mean 'eval_freq'?) (line 2)"),
        ("a.toml", 'agent = "iql"\ndataset = "x"\nnum_envs = 4\n', "unknown key 'num_envs'"),  # an online-only key
        ("a.toml", 'task = "pbrl/Hopper-v5"\nsteps = "many"\n', "steps must be an integer or null/omitted, got 'many' (str) (line 2)"),
        ("a.toml", 'task = "pbrl/Hopper-v5"\nenv_kwargs = 3\n', "env_kwargs must be a table, got 3 (int)"),
        ("a.yaml", "task: pbrl/Hopper-v5\neval_episodes: 2.5\n", "eval_episodes must be an integer, got 2.5 (float)"),
        ("a.yaml", "task: pbrl/Hopper-v5\nseeds: [0, x]\n", "seeds must be a non-empty list of integers >= 0"),
        ("a.yaml", "task: pbrl/Hopper-v5\nseeds: [0, 0]\n", "repeats a seed"),
        ("a.toml", 'task = "pbrl/Hopper-v5"\nenv = "pbrl/Hopper-v5"\n', "give 'task' or 'env', not both"),
        ("a.toml", 'agent = "iql"\ndataset = "x"\ntasks = ["pbrl/Hopper-v5"]\n', "use datasets = [...]"),
        ("a.toml", 'task = "pbrl/Hopper-v5\n', "not valid TOML: "),
        ("a.toml", 'task = "pbrl/Hopper-v5"\n[hp\n', "(at line 2, column"),
        ("a.yaml", "task: pbrl/Hopper-v5\nhp:\n  gamma: 0.9\n  - x\n", "not valid YAML: expected <block end>, but found '-' (at line 4, column 3)"),
        ("a.yaml", "- ppo\n- sac\n", "the top level must be a table of keys, got list"),
        ("a.json", "{}", "must end in .toml, .yaml or .yml"),
    ],
)
def test_bad_files_are_named_precisely(tmp_path, name, text, message):
    path = _write(tmp_path / name, text)
    with pytest.raises(ConfigFileError) as info:
        load_experiment(path)
    assert message in str(info.value)
    assert str(info.value).startswith(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigFileError, match="no such config file"):
        load_experiment(str(tmp_path / "nope.toml"))


def test_deeper_checks_name_the_file_and_the_key(tmp_path):
    path = _write(tmp_path / "a.toml", 'task = "pbrl/Hopper-v5"\n[hp]\nlearning_rat = 1e-3\n')
    with pytest.raises(ConfigFileError, match="unknown hyperparameter 'learning_rat' for ppo \\(did you mean 'learning_rate'\\?\\)"):
        load_experiment(path).resolve()
    path = _write(tmp_path / "b.toml", 'task = "pbrl/Hopper-v5"\nreward = "program:/no/such/file.py"\n')
    with pytest.raises(ConfigFileError, match="no such file"):
        load_experiment(path).resolve()


def test_new_run_config_fields_are_keys_at_once():
    """The schema is the dataclass: a field of TrainConfig is a config key, with its type checked."""
    import dataclasses

    for f in dataclasses.fields(TrainConfig):
        assert f.name in build_experiment({}).config.__dataclass_fields__
    exp = build_experiment({"task": "pbrl/Hopper-v5", "agent": "ppo", "reward": "learned", "teacher": "oracle", "feedback": 50, "pref": {"segment_length": 25}})
    assert exp.config.teacher == "oracle" and exp.config.pref == {"segment_length": 25}
    with pytest.raises(ConfigFileError, match="feedback must be an integer or null/omitted, got 'lots'"):
        build_experiment({"task": "pbrl/Hopper-v5", "feedback": "lots"})


# -- overrides --------------------------------------------------------------------------


def test_set_and_options_override_the_file(tmp_path):
    path = _write(tmp_path / "a.toml", 'task = "pbrl/Hopper-v5"\nsteps = 1000\nseeds = [0, 1]\n[hp]\ngamma = 0.9\nn_epochs = 3\n')
    exp = load_experiment(path, ["steps=500", "hp.gamma=0.95", "env_kwargs.ctrl_cost_weight=0.2", "task=pbrl/Walker2d-v5"])
    assert exp.config.steps == 500 and exp.config.env == "pbrl/Walker2d-v5"
    assert exp.config.hp == {"gamma": 0.95, "n_epochs": 3} and exp.config.env_kwargs == {"ctrl_cost_weight": 0.2}
    exp = load_experiment(path, ["steps=500"], {"steps": 7, "seed": 4, "hp": {"n_epochs": 5}})
    assert exp.config.steps == 7 and exp.config.seed == 4 and exp.seeds is None  # --seed replaces the file's seeds
    assert exp.config.hp == {"gamma": 0.9, "n_epochs": 5}  # tables merge
    with pytest.raises(ConfigFileError, match="must look like key=value"):
        apply_sets({}, ["steps"])
    with pytest.raises(ConfigFileError, match="steps is not a table"):
        apply_sets({"steps": 3}, ["steps.x=1"])


def test_cli_errors_come_before_any_work(tmp_path):
    runs = tmp_path / "runs"
    path = _write(tmp_path / "a.toml", f'task = "pbrl/InvertedPendulum-v5"\nsteps = 1000\nruns_dir = "{runs}"\n')
    code, out = _run("train", path, "--set", "steps=5", "--steps", "0", "--quiet")
    assert code == 2 and "steps must be an integer >= 1, got 0" in out  # the option won over --set and the file
    code, out = _run("train", path, "--dataset", "x")
    assert code == 2 and "--dataset: not an option of a ppo run" in out
    code, out = _run("train", path, "--set", "seeds=[0, 1]")
    assert code == 2 and "pbrl sweep" in out
    code, out = _run("train", path, "--set", "stepz=4")
    assert code == 2 and "unknown key 'stepz' (did you mean 'steps'?)" in out
    code, out = _run("train", str(tmp_path / "missing.yaml"))
    assert code == 2 and "no such config file" in out
    code, out = _run("train", "--set", "steps=4")
    assert code == 2 and "give the file too" in out
    assert "Traceback" not in out and not runs.exists()


def test_train_from_a_config_file_saves_the_resolved_config(tmp_path):
    runs = tmp_path / "runs"
    path = _write(
        tmp_path / "p.yaml",
        f"task: pbrl/InvertedPendulum-v5\nagent: ppo\nsteps: 5000\nseed: 1\neval_episodes: 2\nname: cfg\nruns_dir: {runs}\n"
        "hp:\n  n_envs: 4\n  n_steps: 128\n  net_arch: [16, 16]\n",
    )
    code, out = _run("train", path, "--steps", "512", "--set", "hp.n_epochs=2", "--quiet")
    assert code == 0, out
    run = runs / "pbrl_InvertedPendulum-v5" / "ppo" / "cfg-s1"
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["steps"] == 512 and saved["config"]["seed"] == 1
    assert saved["hyperparams"]["n_epochs"] == 2 and saved["hyperparams"]["net_arch"] == [16, 16]
    assert json.loads((run / "summary.json").read_text())["status"] == "complete"


def test_offline_train_from_a_config_file(tmp_path):
    runs = tmp_path / "runs"
    with datasets_root(tmp_path / "minari"):
        make_pendulum_dataset("pbrl/invertedpendulum/cfg-v0", steps=2000)
        path = _write(
            tmp_path / "bc.toml",
            f'agent = "bc"\ndataset = "pbrl/invertedpendulum/cfg-v0"\nsteps = 40\neval_episodes = 2\nname = "cfg"\nruns_dir = "{runs}"\n'
            "[hp]\nhidden_sizes = [16, 16]\nbatch_size = 32\n",
        )
        code, out = _run("train", path, "--quiet", "--seed", "2")
    assert code == 0, out
    run = runs / "pbrl_InvertedPendulum-v5" / "bc" / "cfg-s2"
    saved = json.loads((run / "config.json").read_text())
    assert saved["kind"] == "offline" and saved["config"]["steps"] == 40 and saved["hyperparams"]["hidden_sizes"] == [16, 16]
    assert json.loads((run / "summary.json").read_text())["status"] == "complete"


def test_the_schema_doc_names_every_key():
    """pbrl/configs/README.md documents every field of both run configs (a new field needs a line there)."""
    import dataclasses

    with open(os.path.join(ROOT, "pbrl", "configs", "README.md"), encoding="utf-8") as f:
        doc = f.read()
    for cls in (TrainConfig, OfflineTrainConfig):
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in doc, f"pbrl/configs/README.md does not describe {cls.__name__}.{f.name}"


def test_picking_one_value_of_a_sweep_list(tmp_path):
    path = _write(tmp_path / "a.toml", 'env = "pbrl/Hopper-v5"\ntasks = ["pbrl/Hopper-v5", "pbrl/Walker2d-v5"]\nseeds = [0, 1]\n')
    with pytest.raises(ConfigFileError, match="pbrl sweep"):
        load_experiment(path).run_config()
    config = load_experiment(path, ["seed=1", "task=pbrl/Walker2d-v5"]).run_config()
    assert (config.env, config.seed) == ("pbrl/Walker2d-v5", 1)
    config = load_experiment(path, [], {"env": "pbrl/Ant-v5", "seed": 4}).run_config()
    assert (config.env, config.seed) == ("pbrl/Ant-v5", 4)
    one = _write(tmp_path / "b.toml", 'task = "pbrl/Hopper-v5"\nseed = 2\n')
    assert load_experiment(one, ["seeds=[3, 4]"]).seeds == [3, 4]
