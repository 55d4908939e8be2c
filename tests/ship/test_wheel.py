"""The wheel built from a clean checkout holds the whole package: every module imports from an installed wheel.

The images install the package with `pip install /src` (a wheel), not editable, so a subpackage missing from
pyproject.toml's package list shows up only there. This builds the wheel from the git-tracked files alone,
installs it (no dependencies) into a fresh venv that sees the dev venv's third-party packages but not its editable
videojob, and imports every module of the five layers from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("cli", "common", "operator", "pipeline", "worker")


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", *LAYERS, "pyproject.toml", "README.md"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return [p for p in out.stdout.decode().split("\0") if p]


def module_name(rel: str) -> str:
    parts = list(Path(rel).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["videojob", *parts])


def test_layers_are_the_package_dir_mapping() -> None:
    # The folder -> package mapping this test walks is the one pyproject.toml declares.
    package_dir = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert package_dir == {f"videojob.{layer}": layer for layer in LAYERS}


def test_every_package_folder_is_listed() -> None:
    # setuptools ships only the packages named in [tool.setuptools] packages (no `find` with this layout).
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    folders = [module_name(f) for f in tracked_files() if f.endswith("/__init__.py") and (REPO / f).is_file()]
    assert sorted(listed) == sorted(folders)


@pytest.mark.slow
def test_every_module_imports_from_the_built_wheel(tmp_path: Path) -> None:
    files = tracked_files()
    src = tmp_path / "src"
    for rel in files:
        if (REPO / rel).is_file():  # a tracked file deleted in the work tree is not part of a checkout
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    modules = sorted(module_name(f) for f in files if f.endswith(".py") and (REPO / f).is_file())
    data = sorted(f for f in files if not f.endswith(".py") and f not in ("pyproject.toml", "README.md"))
    assert "videojob.operator.builders.pods" in modules and "videojob.pipeline.gpu.ops" in modules

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env |= {
        "PYTHONSAFEPATH": "1",
        "YOLO_OFFLINE": "1",
        "YOLO_CONFIG_DIR": str(tmp_path / "ultralytics"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }

    def run(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(a) for a in args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    # Build with the dev venv's setuptools and wheel (no build isolation: nothing to download).
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, src)
    (wheel,) = dist.glob("videojob-*.whl")

    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # Plain directory lines: added to sys.path without processing the .pth files in them, so the dev venv's
    # editable finder (__editable__.videojob-*.pth) stays off and videojob can come only from the wheel.
    dev_dirs = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "zz-dev-venv-deps.pth").write_text("".join(f"{d}\n" for d in dev_dirs))

    script = textwrap.dedent(
        """
        import importlib, json, sys, traceback
        import videojob
        out = {"__path__": list(videojob.__path__), "modules": {}, "errors": {}}
        for name in json.loads(sys.argv[1]):
            try:
                out["modules"][name] = importlib.import_module(name).__file__
            except BaseException:
                out["errors"][name] = traceback.format_exc(limit=3)
        finders = [getattr(f, "__module__", "") for f in sys.meta_path]  # setuptools installs a class
        out["editable"] = [m for m in finders if "editable" in m]
        print(json.dumps(out))
        """
    )
    result = run(python, "-c", script, json.dumps(modules))
    report = json.loads(result.stdout.splitlines()[-1])
    errors = {name: text.strip().splitlines()[-1] for name, text in report["errors"].items()}
    first = next(iter(report["errors"].values()), "")
    assert errors == {}, f"modules that do not import from the wheel; the first:\n{first}"
    assert report["editable"] == [], "the dev venv's editable finder is active in the fresh venv"
    assert [Path(p) for p in report["__path__"]] == [site / "videojob"]
    outside = {m: f for m, f in report["modules"].items() if not Path(f).is_relative_to(site / "videojob")}
    assert outside == {}, f"modules not imported from the installed wheel: {outside}"
    assert sorted(report["modules"]) == modules

    # Files other than .py under the package folders (none today) travel in the wheel as package data.
    missing = [f for f in data if not (site / "videojob" / f).is_file()]
    assert missing == [], f"tracked package files missing from the wheel: {missing}"

    # The console scripts of the wheel start.
    run(fresh / "bin" / "videojob", "--help", timeout=120)
