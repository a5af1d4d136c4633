"""Meta-World v3 tasks (Farama's ``metaworld`` 3.1.1), batched on ``mujoco.batch``.

The Sawyer base is :mod:`.base`, the reward helpers :mod:`.reward_utils`; the models
are Meta-World's XML files vendored in ``assets/`` (MIT, see ``assets/NOTICE.md``).
pbrl does not import ``metaworld`` (it pins ``mujoco==3.3.0``).

:func:`expert_policy` gives Meta-World's scripted expert of a task, batched
(:mod:`.policies`): observations (N, 39) -> float32 actions (N, 4).
"""

from . import bin_picking  # noqa: F401  (registers pbrl/metaworld-bin-picking-v3)
from . import button_press  # noqa: F401  (registers pbrl/metaworld-button-press(-topdown)-v3)
from . import door  # noqa: F401  (registers pbrl/metaworld-door-open-v3, pbrl/metaworld-door-unlock-v3)
from . import drawer  # noqa: F401  (registers pbrl/metaworld-drawer-open-v3, pbrl/metaworld-drawer-close-v3)
from . import hammer  # noqa: F401  (registers pbrl/metaworld-hammer-v3)
from . import plate_slide  # noqa: F401  (registers pbrl/metaworld-plate-slide-v3)
from . import sweep_into  # noqa: F401  (registers pbrl/metaworld-sweep-into-v3)
from . import window  # noqa: F401  (registers pbrl/metaworld-window-open-v3)
from .policies import expert_policy  # noqa: F401,E402  (Meta-World's scripted experts, batched)
