"""pbrl's built-in tasks: batched ports of Gymnasium's MuJoCo v5 environments."""

from . import half_cheetah  # noqa: F401  (registers pbrl/HalfCheetah-v5)
from . import hopper  # noqa: F401  (registers pbrl/Hopper-v5)
from . import walker2d  # noqa: F401  (registers pbrl/Walker2d-v5)
from . import swimmer  # noqa: F401  (registers pbrl/Swimmer-v5)
from . import reacher  # noqa: F401  (registers pbrl/Reacher-v5)
from . import inverted_pendulum  # noqa: F401  (registers pbrl/InvertedPendulum-v5)
from . import inverted_double_pendulum  # noqa: F401  (registers pbrl/InvertedDoublePendulum-v5)
from . import pusher  # noqa: F401  (registers pbrl/Pusher-v5)
from . import ant  # noqa: F401  (registers pbrl/Ant-v5)
from . import humanoid  # noqa: F401  (registers pbrl/Humanoid-v5)
from . import humanoid_standup  # noqa: F401  (registers pbrl/HumanoidStandup-v5)
from . import dmc  # noqa: F401  (registers the pbrl/dmc-<domain>-<task>-v0 tasks)
