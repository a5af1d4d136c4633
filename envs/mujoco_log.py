"""Route MuJoCo's warnings to Python logging instead of stderr and MUJOCO_LOG.TXT.

MuJoCo's default handler prints every warning and appends it to MUJOCO_LOG.TXT in
the working directory. pbrl reports unstable simulations through
``info["diverged"]`` instead, so those messages go to the ``pbrl.envs.mujoco``
logger at DEBUG; Gymnasium's XML files trigger a harmless compiler deprecation
("settotalmass") that goes to DEBUG too; anything else is logged as a WARNING.
A handler the user installed (``mujoco.set_mju_user_warning``) is left alone.
"""

from __future__ import annotations

import logging

import mujoco

logger = logging.getLogger("pbrl.envs.mujoco")

_QUIET = ("settotalmass", "The simulation is unstable")


def _handle(message: str) -> None:
    level = logging.DEBUG if any(q in message for q in _QUIET) else logging.WARNING
    logger.log(level, "MuJoCo: %s", message)


def install() -> None:
    """Install pbrl's handler unless one is already set."""
    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_handle)
