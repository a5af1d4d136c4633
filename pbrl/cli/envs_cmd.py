"""``pbrl envs``: list the registered tasks."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table


def envs(
    as_json: bool = typer.Option(False, "--json", help="Print the task cards as JSON."),
) -> None:
    """List registered tasks: id, observation/action dims, episode limit, reward terms, success."""
    import gymnasium as gym

    from pbrl.envs import cards

    rows = []
    for task_id, card in cards().items():
        spec = gym.spec(task_id)
        env = gym.make(task_id)
        obs_dim = env.observation_space.shape[0]
        act_dim = env.action_space.shape[0]
        env.close()
        rows.append((card, obs_dim, act_dim, spec.max_episode_steps))
    if as_json:
        out = [dict(c.to_dict(), obs_dim=o, act_dim=a) for c, o, a, _ in rows]
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table(title="pbrl tasks")
    for col in ("id", "obs", "act", "limit", "reward terms", "success"):
        table.add_column(col)
    for card, obs_dim, act_dim, limit in rows:
        terms = ", ".join(f"{t.name} ({t.weight:g})" for t in card.reward_terms)
        table.add_row(card.id, str(obs_dim), str(act_dim), str(limit), terms, card.success or "-")
    Console(width=160).print(table)
