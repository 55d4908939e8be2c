"""The layer rules of pyproject.toml ([tool.importlinter]) hold: checked by import-linter itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--config", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_operator_package_does_not_shadow_stdlib() -> None:
    # The folder operator/ must be importable only as videojob.operator.
    import operator

    assert hasattr(operator, "itemgetter")
    import videojob.operator

    assert Path(videojob.operator.__file__).parent == REPO / "operator"
