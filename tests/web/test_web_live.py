"""People label a live PrefPPO run: ``pbrl train --reward learned --teacher human``.

The run serves the labeling page itself (``human_serve``) or ``pbrl label serve``
serves the run's store from another process; people answer through the real HTTP
API with a labeler token; rounds wait for them or not, as configured; answers that
come late are trained on by the next update and survive a resume. Tiny budgets on
InvertedPendulum (short random episodes: segments from the first rollout).
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from typer.testing import CliRunner

from web_support import Client, free_port, start_server_process

import pbrl  # noqa: F401
from pbrl.cli.main import app
from pbrl.preferences import PreferenceStore
from pbrl.runs.config import ConfigError, TrainConfig
from pbrl.runs.metrics import read_metrics
from pbrl.runs.train import resume, train
from pbrl.web import LabelServer

PENDULUM = "pbrl/InvertedPendulum-v5"
SMALL = {"reward_hidden": [32, 32], "reward_epochs": 20, "segment_length": 10, "heldout_pairs": 64,
         "interval": 512, "queries_per_round": 10}  # fmt: skip


def _config(tmp_path, name: str, steps: int, feedback: int, **human) -> TrainConfig:
    return TrainConfig(
        env=PENDULUM, agent="ppo", steps=steps, reward="learned", teacher="human", feedback=feedback,
        pref={**SMALL, **human}, runs_dir=str(tmp_path / "runs"), name=name, eval_freq=0, checkpoint_freq=0, eval_episodes=2,
    )  # fmt: skip


def _better(store: PreferenceStore, query_id: int) -> str:
    """A person who watches the clips answers like the true reward would."""
    first, second = store.get_pairs([query_id])
    return "right" if second.returns[0] > first.returns[0] else "left"


class Person(threading.Thread):
    """Someone at the run's labeling page: waits for it, then answers ``want`` queries over HTTP."""

    def __init__(self, store_path: str, token: str, want: int):
        super().__init__(daemon=True)
        self.store_path, self.token, self.want = store_path, token, want
        self.answered: list[int] = []
        self.clip: tuple[int, bytes] | None = None
        self.task: str | None = None
        self.url: str | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with PreferenceStore(self.store_path, create=False) as store:
                deadline = time.monotonic() + 60
                while self.url is None:  # the run records its page's address once it serves it
                    entry = store.info().get("label_server")
                    self.url = entry["url"] if isinstance(entry, dict) else None
                    assert time.monotonic() < deadline, "the run never served its labeling page"
                    time.sleep(0.05)
                client = Client(self.url, self.token)
                self.task = client.get("/api/task")[1]["task"]
                while len(self.answered) < self.want and time.monotonic() < deadline:
                    status, body = client.get("/api/next")
                    assert status == 200, body
                    query = body["query"]
                    if query is None:  # nothing open yet: the next round will ask
                        time.sleep(0.05)
                        continue
                    if self.clip is None:  # the clips show the run's robot, drawn from the recorded qpos/qvel
                        status, data = client.get(query["left"]["clip"], timeout=120)
                        self.clip = (status, data)
                    status, res = client.post("/api/labels", {"query_id": query["id"], "choice": _better(store, query["id"])})
                    assert status == 200 and not res["duplicate"], res
                    self.answered.append(query["id"])
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            self.error = exc
        finally:
            self.done.set()


def test_run_serves_its_page_and_trains_on_answers_given_while_it_goes_on(tmp_path, capfd):
    """No-wait mode: rounds queue their queries and go on; a person labels meanwhile; the
    reward model is retrained on those answers (after the budget is spent, too)."""
    config = _config(tmp_path, "live", steps=4096, feedback=30, human_min_labels=0, human_serve=True, human_port=0)
    people: list[Person] = []

    def on_start(run_dir: str) -> None:  # what `pbrl label add-labeler alice --store <run>/preferences.sqlite` does
        path = os.path.join(run_dir, "preferences.sqlite")
        with PreferenceStore(path) as store:
            token = store.add_labeler("alice")
        people.append(Person(path, token, want=12))
        people[0].start()

    waited = []

    def progress(step: int, latest: dict) -> None:
        # the person labels while the run trains; past 2560 steps the run lets them finish
        # (a slow person on a busy machine), so the updates after that see every answer
        if step >= 2560 and not waited:
            waited.append(people[0].done.wait(90))

    result = train(config, progress=progress, on_start=on_start)
    person = people[0]
    person.join(30)
    assert person.error is None, repr(person.error)
    assert waited == [True] and len(person.answered) == 12
    err = capfd.readouterr().err
    # the run printed where to label and how to get a token
    assert f"the labeling page is at {person.url}/" in err and "pbrl label add-labeler NAME --store" in err
    assert person.url.startswith("http://127.0.0.1:")
    assert person.task == PENDULUM
    status, data = person.clip
    assert status == 200 and data[4:8] == b"ftyp"  # an MP4 of the run's task

    fb = result.final["feedback"]
    assert fb["teacher"] == "human" and fb["queries"] == 30 and fb["feedback_rounds"] == 3, fb
    assert fb["labels"] == 12 and fb["labels_fitted"] == 12 and fb["open"] == 18, fb
    store_path = os.path.join(result.run_dir, "preferences.sqlite")
    with PreferenceStore(store_path, create=False) as store:
        rows = store.labels()
        assert sorted(rows["query_id"].tolist()) == sorted(person.answered)
        assert set(rows["labeler"].tolist()) == {"alice"} and set(rows["teacher_kind"].tolist()) == {"human"}
        assert store.info()["label_server"] is None  # the run stopped its server
    # the reward model was trained on them during training, and saved
    rows = read_metrics(result.run_dir)
    fitted = [r for r in rows if "reward_model/train_accuracy" in r]
    assert fitted and fitted[-1]["feedback/labels"] == 12 and fitted[-1]["step"] < 4096, fitted  # while training
    assert os.path.isfile(os.path.join(result.run_dir, "reward_model", "config.json"))
    with pytest.raises(OSError):
        Client(person.url).get("/api/health", timeout=2)


def test_rounds_wait_until_the_timeout_and_late_answers_are_used_then_and_after_resume(tmp_path, capfd):
    """Wait mode with a timeout, the page served by `pbrl label serve` from another process:
    each round waits, gives up, the run goes on; answers given after a round count at the
    next update; answers given while the run is stopped count after a resume."""
    config = _config(tmp_path, "wait", steps=2048, feedback=20, human_timeout=0.5)
    port = free_port()
    run_dirs: list[str] = []
    server: list = []
    tokens: dict[str, str] = {}

    def on_start(run_dir: str) -> None:  # a second terminal: `pbrl label serve --store <run>/preferences.sqlite`
        run_dirs.append(run_dir)
        path = os.path.join(run_dir, "preferences.sqlite")
        with PreferenceStore(path) as store:
            tokens["alice"] = store.add_labeler("alice")
        server.append(start_server_process(path, port, "--render-ahead", "0"))

    answered: list[int] = []

    def progress(step: int, latest: dict) -> None:
        if answered:
            return
        with PreferenceStore(os.path.join(run_dirs[0], "preferences.sqlite"), create=False) as store:
            if store.summary()["queries"] != 10:
                return
            # round 1 gave up after its timeout and training goes on; alice answers 3 of its queries now
            client = Client(f"http://127.0.0.1:{port}", tokens["alice"])
            for qid in store.open_queries()[:3].tolist():
                status, res = client.post("/api/labels", {"query_id": qid, "choice": _better(store, qid)})
                assert status == 200, res
                answered.append(qid)

    try:
        result = train(config, progress=progress, on_start=on_start)
        run = result.run_dir
        err = capfd.readouterr().err
        assert "waiting for 10 of 10 human answers" in err and "at most 0.5 s" in err
        fb = result.final["feedback"]
        assert fb["queries"] == 20 and fb["feedback_rounds"] == 2 and fb["labels"] == 3 and fb["open"] == 17, fb
        assert fb["labels_fitted"] == 3, fb
        rounds = [r for r in read_metrics(run) if "feedback/round_seconds" in r]
        assert len(rounds) == 2 and all(r["feedback/round_seconds"] >= 0.5 for r in rounds), rounds
        assert rounds[0]["feedback/labels"] == 0 and rounds[0]["feedback/open"] == 10  # nobody answered in time
        assert "reward_model/train_accuracy" not in rounds[0]
        assert rounds[1]["feedback/labels"] == 3 and "reward_model/train_accuracy" in rounds[1]  # the late answers

        # the run has stopped; alice goes on answering in the still-open page; a resume trains on it all
        store_path = os.path.join(run, "preferences.sqlite")
        client = Client(f"http://127.0.0.1:{port}", tokens["alice"])
        with PreferenceStore(store_path, create=False) as store:
            for qid in store.open_queries()[:2].tolist():
                assert client.post("/api/labels", {"query_id": qid, "choice": _better(store, qid)})[0] == 200
    finally:
        for proc in server:
            proc.terminate()
            proc.wait(30)
    again = resume(run, steps=2560)
    assert again.resumed_from == 2048
    fb = again.final["feedback"]
    assert fb["labels"] == 5 and fb["labels_fitted"] == 5 and fb["queries"] == 20, fb  # budget spent: no new round
    # retrained on all five before the resumed run's first step
    assert any(r["step"] == 2048 and r.get("feedback/labels") == 5 and "reward_model/train_accuracy" in r for r in read_metrics(run))


@pytest.mark.parametrize(
    "teacher, pref, message",
    [
        ("human", {"human_min_labels": -1}, "'human_min_labels' must be 'all', an integer >= 0 or a fraction in (0, 1), got -1"),
        ("human", {"human_min_labels": 1.5}, "'human_min_labels' must be 'all'"),
        ("human", {"human_min_labels": "some"}, "'human_min_labels' must be 'all'"),
        ("human", {"human_timeout": -1}, "'human_timeout' must be a number of seconds >= 0 or 'none'"),
        ("human", {"human_serve": "yes"}, "'human_serve' must be true or false"),
        ("human", {"human_serve": True, "human_port": 70000}, "'human_port' must be a port number in 0..65535"),
        ("human", {"human_port": 8001}, "'human_port' needs human_serve=true"),
        ("human", {"human_serve": True, "human_host": "192.0.2.1", "human_port": 0}, "'human_host': cannot listen on '192.0.2.1'"),
        ("human", {"human_timeot": 3}, "did you mean 'human_timeout'?"),
        ("oracle", {"human_timeout": 3}, "'human_timeout' applies to --teacher human only (the teacher here is 'oracle')"),
    ],
)
def test_bad_human_options_fail_before_any_work(tmp_path, teacher, pref, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig(env=PENDULUM, agent="ppo", reward="learned", teacher=teacher, feedback=20, pref=pref,
                    runs_dir=str(tmp_path / "runs")).resolve()  # fmt: skip
    assert message in str(info.value)
    assert not os.path.exists(tmp_path / "runs")


def test_a_taken_port_and_a_bad_cli_option_fail_before_any_work(tmp_path):
    runs = str(tmp_path / "runs")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            TrainConfig(env=PENDULUM, agent="ppo", reward="learned", teacher="human", feedback=20, runs_dir=runs,
                        pref={"human_serve": True, "human_port": port}).resolve()  # fmt: skip
    result = CliRunner().invoke(app, ["train", "--env", PENDULUM, "--reward", "learned", "--teacher", "human",
                                      "--pref", "human_min_labels=-2", "--runs-dir", runs, "--quiet"])  # fmt: skip
    assert result.exit_code == 2 and "human_min_labels" in result.output
    assert not os.path.exists(runs)


def test_add_labeler_points_to_the_page_a_live_run_serves(tmp_path):
    from pbrl.teachers.human import HumanTeacher

    path = str(tmp_path / "prefs.sqlite")
    runner = CliRunner()
    teacher = HumanTeacher(path, min_labels=0, serve=lambda s: LabelServer(s, port=0, render_ahead=0).start())
    try:
        result = runner.invoke(app, ["label", "add-labeler", "alice", "--store", path])
        assert result.exit_code == 0, result.output
        token = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
        assert f"the run using this store serves the labeling page: open {teacher.url}/?token=" in result.output
        assert Client(teacher.url, token).get("/api/me")[1]["labeler"] == "alice"
    finally:
        teacher.close()
    result = runner.invoke(app, ["label", "add-labeler", "bob", "--store", path])
    assert result.exit_code == 0 and "after `pbrl label serve --store" in result.output
