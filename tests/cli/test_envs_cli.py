"""``pbrl envs``: the registered tasks, one table per suite (DeepMind Control, Meta-World, Gymnasium's, your own)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pbrl.cli.envs_cmd import SUITES, suite_of
from pbrl.cli.main import app

runner = CliRunner()


def test_tasks_are_listed_by_suite():
    assert suite_of("pbrl/dmc-walker-walk-v0").startswith("DeepMind Control")
    assert suite_of("pbrl/metaworld-door-open-v3").startswith("Meta-World")
    assert suite_of("pbrl/Hopper-v5") == "Gymnasium MuJoCo v5"
    assert suite_of("mylab/Slider-v0") == "registered with pbrl.envs.register_task"
    listed = runner.invoke(app, ["envs", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows["pbrl/Hopper-v5"]["suite"] == "Gymnasium MuJoCo v5"
    assert rows["pbrl/dmc-walker-walk-v0"]["suite"] == suite_of("pbrl/dmc-walker-walk-v0")
    assert rows["pbrl/metaworld-door-open-v3"]["suite"] == suite_of("pbrl/metaworld-door-open-v3")
    table = runner.invoke(app, ["envs"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    titles = [name for _, name in SUITES if name in table.stdout]
    assert titles[:3] == [name for _, name in SUITES[:3]]  # the suites in their order, each with its own table
    dmc = table.stdout.index(SUITES[0][1])
    gymnasium = table.stdout.index(SUITES[2][1])
    assert dmc < table.stdout.index("pbrl/dmc-walker-walk-v0") < gymnasium < table.stdout.index("pbrl/Hopper-v5")
