"""Package discovery for the zcbench distribution (the rest of the metadata is in pyproject.toml).

The repository keeps the parts of the `zcbench` namespace in top-level folders (DESIGN.md): each root below
maps an import name to a folder, and every package found under it, with its data files (subsets, ...),
goes into the wheel, so that a new `benchmarks/<name>/` is never silently left out.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOTS = {"zcbench": "zcbench", "zcbench.proxies": "proxies", "zcbench.baselines": "baselines",
         "zcbench.benchmarks": "benchmarks", "zcbench.figures": "figures"}
HERE = Path(__file__).parent


def _data_files(folder: Path) -> list[str]:
    """Non-Python files of a package folder, those in subfolders that are not packages included."""
    out = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in relative.parts:
            continue
        if any((folder.joinpath(*relative.parts[:i]) / "__init__.py").exists() for i in range(1, len(relative.parts))):
            continue  # it belongs to a subpackage, which lists its own
        out.append(relative.as_posix())
    return out


packages, package_data = [], {}
for name, root in ROOTS.items():
    for sub in [""] + find_packages(str(HERE / root)):
        package = f"{name}.{sub}" if sub else name
        packages.append(package)
        files = _data_files(HERE / root / sub.replace(".", "/"))
        if files:
            package_data[package] = files

setup(package_dir=ROOTS, packages=packages, package_data=package_data)
