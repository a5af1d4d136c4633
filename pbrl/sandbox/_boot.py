"""``python -I -S _boot.py CONFIG``: start the reward worker without importing pbrl.

Loads this folder as a package named ``pbrl_sandbox`` (its modules import only the
standard library and numpy) and runs :func:`pbrl_sandbox.worker.run`.
"""

import importlib.util
import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("pbrl_sandbox", os.path.join(here, "__init__.py"),
                                                  submodule_search_locations=[here])
    package = importlib.util.module_from_spec(spec)
    sys.modules["pbrl_sandbox"] = package
    spec.loader.exec_module(package)
    from pbrl_sandbox import worker  # noqa: E402

    worker.run(sys.argv[1:])
