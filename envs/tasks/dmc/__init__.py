"""DeepMind Control suite tasks (``pbrl/dmc-<domain>-<task>-v0``), batched on ``mujoco.batch``.

Ports of ``dm_control.suite`` tasks built from dm_control's own MJCF files, with its
observations (flattened in its key order), rewards (products of ``tolerance`` factors, in
[0, 1]), initial states and 1,000-step episodes; :mod:`.base` holds what they share.
"""

from . import walker  # noqa: F401  (registers pbrl/dmc-walker-{stand,walk,run}-v0)
from . import cheetah  # noqa: F401  (registers pbrl/dmc-cheetah-run-v0)
from . import hopper  # noqa: F401  (registers pbrl/dmc-hopper-{stand,hop}-v0)
from . import cartpole  # noqa: F401  (registers pbrl/dmc-cartpole-swingup-v0)
from . import finger  # noqa: F401  (registers pbrl/dmc-finger-spin-v0)
from . import reacher  # noqa: F401  (registers pbrl/dmc-reacher-{easy,hard}-v0)
from . import quadruped  # noqa: F401  (registers pbrl/dmc-quadruped-{walk,run}-v0)
from . import humanoid  # noqa: F401  (registers pbrl/dmc-humanoid-{stand,walk}-v0)
