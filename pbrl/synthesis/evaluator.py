"""The trusted evaluation: ``python -m pbrl.synthesis.evaluator JOB.json`` (started by ``sandbox.py``).

Runs pbrl's own code only — never a reward program: it builds a PPO policy from the
job's hyperparameters, validates and loads the candidate's weights into it
(``weights.py``), and measures the task metric (``fitness.py``) on ``episodes``
fresh-seeded episodes. The seed is drawn by the parent after the candidate's
worker has exited, so the candidate never knows it. Writes ``eval.json`` and, when the
job asks (``record``), the episodes it ran (``rollouts.py``) for ICPL's teacher and
the reward-hacking check.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m pbrl.synthesis.evaluator JOB.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    out_path = job.get("out", "eval.json")
    try:
        import torch

        from pbrl.agents import make_agent

        from .fitness import evaluate_fitness
        from .weights import load_weights

        hp = dict(job["hyperparams"])
        torch.set_num_threads(int(hp.get("torch_threads", 1)))
        # One sub-env is enough: the agent's own env is never stepped here.
        hp["n_envs"] = 1
        hp["batch_size"] = min(int(hp["batch_size"]), int(hp["n_steps"]))
        agent = make_agent("ppo", job["task"], hp, seed=0, env_kwargs=job.get("env_kwargs") or {})
        load_weights(agent, job["weights"])
        record: list | None = [] if job.get("record") else None
        result = evaluate_fitness(agent.predict, job["task"], int(job["episodes"]), int(job["seed"]), job.get("env_kwargs"),
                                  record=record)
        if record:
            with open(job["record"], "wb") as f:
                f.write(record[0].to_bytes())
        data = {"ok": True, "fitness": result.to_dict()}
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a named failure
        from .errors import EvaluationFailed, SynthesisFailure

        failure = exc if isinstance(exc, SynthesisFailure) else EvaluationFailed(
            f"{type(exc).__name__}: {exc}", traceback.format_exc()[-3000:]
        )
        data = {"ok": False, "failure": failure.to_record()}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
