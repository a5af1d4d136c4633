"""Package layout for setuptools (everything else is in pyproject.toml).

pbrl/ installs as ``pbrl``; the top-level envs/ and agents/ folders install as
``pbrl.envs`` and ``pbrl.agents`` (package-dir), with all their subpackages.
"""

from setuptools import find_packages, setup

ROOTS = {"pbrl": "pbrl", "pbrl.envs": "envs", "pbrl.agents": "agents"}

packages, package_dir = [], {}
for name, folder in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_packages(folder):
        full = f"{name}.{sub}"
        if full.startswith(("pbrl.envs", "pbrl.agents")) and name == "pbrl":
            continue
        packages.append(full)
        package_dir[full] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
