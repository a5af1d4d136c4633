"""Meta-World's scripted expert policies for pbrl's Meta-World tasks, batched in numpy.

Each policy is Meta-World 3.1.1's ``metaworld.policies.Sawyer<Task>V3Policy`` (the same
targets, gains and branch conditions) written over a batch: it maps observations (N, 39)
to float32 actions (N, 4), each row the action Meta-World's policy returns for that
observation. A policy moves the hand towards a target chosen from the observation
(``p * (target − hand)``, which the env clips to [−1, 1]) and sets the gripper effort.
They read only the observation (hand, object and goal), so they work on the sub-envs of
``gym.make_vec`` alike. :func:`expert_policy` returns the one of a task id; dataset
generation uses it as the expert level.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...task import row_norms


class ScriptedPolicy:
    """A batched scripted policy: ``policy(obs)`` with obs (N, 39) or (39,) gives float32
    actions (N, 4) or (4,). Subclasses implement :meth:`plan`."""

    task_id: str = ""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if batch.ndim != 2 or batch.shape[1] != 39:
            raise ValueError(f"{type(self).__name__} takes observations of shape (N, 39) or (39,), got {obs.shape}")
        hand = batch[:, :3]
        target, gain, grab = self.plan(hand, batch)
        action = np.empty((batch.shape[0], 4), dtype=np.float32)
        action[:, :3] = gain * (target - hand)
        action[:, 3] = grab
        return action[0] if single else action

    def plan(self, hand: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, float | np.ndarray, float | np.ndarray]:
        """Target hand positions (N, 3), the gain ``p`` (scalar or (N, 1)) and the grip effort."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()  # Meta-World's scripted expert of {self.task_id}"


def choose(conditions: list[np.ndarray], choices: list[np.ndarray], default: np.ndarray) -> np.ndarray:
    """Rows of the first choice whose condition holds (an if/elif/else chain), (N, 3)."""
    return np.select([c[:, None] for c in conditions], choices, default)


def xy_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return row_norms(a[:, :2] - b[:, :2])


class ButtonPressPolicy(ScriptedPolicy):
    """``SawyerButtonPressV3Policy``: line up in x-z in front of the button, then push +y."""

    task_id = "pbrl/metaworld-button-press-v3"

    def plan(self, hand, obs):
        button = obs[:, 4:7] + np.array([0.0, 0.0, -0.07])
        aligned = np.all(np.isclose(hand[:, [0, 2]], button[:, [0, 2]], atol=0.02), axis=1)
        target = button.copy()
        target[:, 1] = np.where(aligned, button[:, 1] + 0.02, hand[:, 1] - 0.1)
        return target, 25.0, 0.0


class ButtonPressTopdownPolicy(ScriptedPolicy):
    """``SawyerButtonPressTopdownV3Policy``: above the button, then down onto it."""

    task_id = "pbrl/metaworld-button-press-topdown-v3"

    def plan(self, hand, obs):
        button = obs[:, 4:7]
        far = xy_distance(hand, button) > 0.04
        return choose([far], [button + np.array([0.0, 0.0, 0.1])], button), 25.0, 1.0


class DoorOpenPolicy(ScriptedPolicy):
    """``SawyerDoorOpenV3Policy``: above the handle, down beside it, then pull it."""

    task_id = "pbrl/metaworld-door-open-v3"

    def plan(self, hand, obs):
        door = obs[:, 4:7] - np.array([0.05, 0.0, 0.0])
        far = xy_distance(hand, door) > 0.12
        high = np.abs(hand[:, 2] - door[:, 2]) > 0.04
        target = choose([far, high], [door + np.array([0.06, 0.02, 0.2]), door + np.array([0.06, 0.02, 0.0])], door)
        return target, 25.0, 1.0


class DoorUnlockPolicy(ScriptedPolicy):
    """``SawyerDoorUnlockV3Policy``: come down beside the lock, then push it along +x."""

    task_id = "pbrl/metaworld-door-unlock-v3"

    def plan(self, hand, obs):
        lock = obs[:, 4:7] + np.array([-0.04, -0.02, -0.03])
        far = xy_distance(hand, lock) > 0.02
        target = choose(
            [far & (hand[:, 2] > 0.15), far], [hand + np.array([0.0, -0.1, -0.1]), lock], lock + np.array([0.1, 0.0, 0.01])
        )
        return target, 25.0, 1.0


class DrawerOpenPolicy(ScriptedPolicy):
    """``SawyerDrawerOpenV3Policy``: above the handle, down to it, then pull it (−y)."""

    task_id = "pbrl/metaworld-drawer-open-v3"

    def plan(self, hand, obs):
        drawer = obs[:, 4:7] + np.array([0.0, 0.0, -0.02])
        far = xy_distance(hand, drawer) > 0.06
        high = np.abs(hand[:, 2] - drawer[:, 2]) > 0.04
        target = choose([far, high], [drawer + np.array([0.0, 0.0, 0.3]), drawer], drawer + np.array([0.0, -0.06, 0.0]))
        gain = np.where(far | high, 4.0, 50.0)[:, None]
        return target, gain, -1.0


class DrawerClosePolicy(ScriptedPolicy):
    """``SawyerDrawerCloseV3Policy``: over and in front of the drawer, down, then push it in."""

    task_id = "pbrl/metaworld-drawer-close-v3"

    def plan(self, hand, obs):
        drawer = obs[:, 4:7] + np.array([0.0, 0.0, -0.02])
        behind = hand[:, 1] > drawer[:, 1]
        lift = np.stack([hand[:, 0], hand[:, 1], drawer[:, 2] + 0.5], axis=1)
        target = choose(
            [behind & (hand[:, 2] < drawer[:, 2] + 0.23), behind, np.abs(hand[:, 2] - drawer[:, 2]) > 0.04],
            [lift, drawer + np.array([0.0, -0.075, 0.23]), drawer + np.array([0.0, -0.075, 0.0])],
            drawer,
        )
        return target, 25.0, 1.0


class WindowOpenPolicy(ScriptedPolicy):
    """``SawyerWindowOpenV3Policy``: above the handle, down beside it, then push +x."""

    task_id = "pbrl/metaworld-window-open-v3"

    def plan(self, hand, obs):
        window = obs[:, 4:7] + np.array([-0.03, -0.03, -0.08])
        far = xy_distance(hand, window) > 0.04
        high = np.abs(hand[:, 2] - window[:, 2]) > 0.02
        target = choose([far, high], [window + np.array([0.0, 0.0, 0.3]), window], window + np.array([0.1, 0.0, 0.0]))
        return target, 25.0, 1.0


class SweepIntoPolicy(ScriptedPolicy):
    """``SawyerSweepIntoV3Policy``: above the block, down to it, then to the goal."""

    task_id = "pbrl/metaworld-sweep-into-v3"

    def plan(self, hand, obs):
        cube, goal = obs[:, 4:7], obs[:, 36:39]
        offset = cube + np.array([-0.005, 0.0, 0.01])
        far = xy_distance(hand, offset) > 0.04
        target = choose([far, np.abs(hand[:, 2] - offset[:, 2]) > 0.04], [offset + np.array([0.0, 0.0, 0.3]), offset], goal)
        apart = (xy_distance(hand, cube) > 0.04) | (np.abs(hand[:, 2] - cube[:, 2]) > 0.15)
        return target, 25.0, np.where(apart, -1.0, 0.7)


class PlateSlidePolicy(ScriptedPolicy):
    """``SawyerPlateSlideV3Policy``: behind the puck, down, then push it to the goal's x at y 0.9."""

    task_id = "pbrl/metaworld-plate-slide-v3"

    def plan(self, hand, obs):
        puck = obs[:, 4:7] + np.array([0.0, -0.055, 0.03])
        aligned = xy_distance(hand, puck) <= 0.03
        push = np.stack([obs[:, 36], np.full(len(obs), 0.9), puck[:, 2]], axis=1)
        target = choose([~aligned, np.abs(hand[:, 2] - puck[:, 2]) > 0.04], [puck + np.array([0.0, 0.0, 0.1]), puck], push)
        return target, 10.0, -1.0


class HammerPolicy(ScriptedPolicy):
    """``SawyerHammerV3Policy``: grasp the handle, lift, line up with the nail in x-z, swing +y."""

    task_id = "pbrl/metaworld-hammer-v3"
    goal = np.array([0.24, 0.71, 0.11]) + np.array([-0.19, 0.0, 0.05])

    def plan(self, hand, obs):
        handle = obs[:, 4:7] + np.array([-0.04, 0.0, -0.01])
        goal = self.goal
        far = xy_distance(hand, handle) > 0.04
        reach_down = (np.abs(hand[:, 2] - handle[:, 2]) > 0.05) & (handle[:, 2] < 0.03)
        off_line = row_norms(hand[:, [0, 2]] - goal[[0, 2]]) > 0.02
        line_up = np.stack([np.full(len(obs), goal[0]), hand[:, 1], np.full(len(obs), goal[2])], axis=1)
        target = choose(
            [far, reach_down, off_line],
            [handle + np.array([0.0, 0.0, 0.1]), handle + np.array([0.0, 0.0, 0.03]), line_up],
            np.broadcast_to(goal, hand.shape),
        )
        apart = far | (np.abs(hand[:, 2] - handle[:, 2]) > 0.1)
        return target, 10.0, np.where(apart, 0.0, 0.8)


class BinPickingPolicy(ScriptedPolicy):
    """``SawyerBinPickingV3Policy``: grasp the cube, lift it over the wall, lower it into the bin."""

    task_id = "pbrl/metaworld-bin-picking-v3"
    bin = np.array([0.12, 0.7, 0.02])

    def plan(self, hand, obs):
        cube = obs[:, 4:7] + np.array([0.0, 0.0, 0.03])
        cube[:, 1] = np.maximum(0.675, np.minimum(cube[:, 1], 0.725))
        far = xy_distance(hand, cube) > 0.02
        level = np.abs(hand[:, 2] - cube[:, 2])
        off_bin = xy_distance(hand, np.broadcast_to(self.bin, hand.shape)) > 0.02
        above_bin = np.broadcast_to(np.array([self.bin[0], self.bin[1], 0.18]), hand.shape)
        target = choose(
            [far, level > 0.01, off_bin & (hand[:, 2] < 0.15), off_bin],
            [cube + np.array([0.0, 0.0, 0.15]), cube, hand + np.array([0.0, 0.0, 0.1]), above_bin],
            np.broadcast_to(self.bin, hand.shape),
        )
        return target, 25.0, np.where(far | (level > 0.02), -1.0, 0.6)


#: task id -> its scripted expert
EXPERTS: dict[str, type[ScriptedPolicy]] = {
    cls.task_id: cls
    for cls in (
        ButtonPressPolicy, ButtonPressTopdownPolicy, DoorOpenPolicy, DoorUnlockPolicy, DrawerOpenPolicy,
        DrawerClosePolicy, WindowOpenPolicy, SweepIntoPolicy, PlateSlidePolicy, HammerPolicy, BinPickingPolicy,
    )
}


def expert_policy(task_id: str) -> Callable[[np.ndarray], np.ndarray]:
    """Meta-World's scripted expert for a pbrl Meta-World task id (``pbrl/metaworld-<task>-v3``):
    a callable from observations (N, 39) to float32 actions (N, 4). Unknown ids are a KeyError
    that lists the tasks with an expert."""
    try:
        return EXPERTS[task_id]()
    except (KeyError, TypeError):
        raise KeyError(f"no scripted expert policy for {task_id!r}; experts exist for {sorted(EXPERTS)}") from None
