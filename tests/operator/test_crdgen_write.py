"""crdgen --write: each writer of a CRD file writes a temp file of its own, then renames it into place."""

from __future__ import annotations

from pathlib import Path

import pytest
from videojob.operator import crdgen


def test_write_leaves_another_writers_temp_file_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    targets = [tmp_path / "crds" / "videojob.yaml", tmp_path / "chart" / "crds" / "videojob.yaml"]
    monkeypatch.setattr(crdgen, "REPO", tmp_path)
    monkeypatch.setattr(crdgen, "TARGETS", targets)
    # Another run's half-written file, under the fixed name the temp file used to have.
    other = targets[0].with_name("videojob.yaml.tmp")
    other.parent.mkdir(parents=True)
    other.write_text("another writer's half")
    assert crdgen.main(["--write"]) == 0
    assert other.read_text() == "another writer's half"
    for target in targets:
        assert target.read_text() == crdgen.render()
        assert sorted(p.name for p in target.parent.iterdir()) == sorted(
            ["videojob.yaml"] + (["videojob.yaml.tmp"] if target == targets[0] else [])
        )
    assert crdgen.main(["--check"]) == 0


def test_write_atomic_removes_its_temp_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "videojob.yaml"
    target.write_text("old")

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(crdgen.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        crdgen.write_atomic(target, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["videojob.yaml"]
    assert target.read_text() == "old"
