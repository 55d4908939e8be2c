"""pipeline/atomic.py: two writers of one path never share a temp file, even with one pid (pid 1 in every container).

Two pods on different nodes writing the same file on a shared volume look, to the old pid-named temp file, like
one process: both wrote into the same temp file and renamed a mix of the two into place.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from pathlib import Path

import pytest
from videojob.pipeline.atomic import atomic_path, write_text_atomic


def leftovers(directory: Path, keep: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p != keep)


def test_two_writers_of_one_path_in_one_process_get_distinct_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "video.mp4"
    a_content, b_content = b"A" * 4096, b"B" * 1024
    with contextlib.ExitStack() as a_stack, contextlib.ExitStack() as b_stack:
        tmp_a = a_stack.enter_context(atomic_path(target))
        tmp_b = b_stack.enter_context(atomic_path(target))
        assert tmp_a != tmp_b
        for tmp in (tmp_a, tmp_b):  # hidden, next to the target, the suffix kept (muxers read it)
            assert tmp.parent == target.parent and tmp.name.startswith(".video.") and tmp.suffix == ".mp4"
            assert tmp.exists()  # created exclusively, before the writer opens it
        # Interleaved as two pods would: A writes half, B writes all of its own, A the rest.
        with tmp_a.open("wb") as fa:
            fa.write(a_content[:2048])
            fa.flush()
            tmp_b.write_bytes(b_content)
            fa.write(a_content[2048:])
        a_stack.close()  # A finishes first ...
        assert target.read_bytes() == a_content
        assert tmp_b.read_bytes() == b_content  # ... B's temp file is still its own
    # ... then B: both succeeded, the file is B's, whole.
    assert target.read_bytes() == b_content
    assert leftovers(target.parent, target) == []


def test_concurrent_writers_leave_one_whole_content(tmp_path: Path) -> None:
    # Threads share the pid, as containers do. Each write is a complete content; the file is always one of them.
    target = tmp_path / "plan.json"
    contents = {i: f'{{"writer": {i}, "pad": "{str(i) * 20000}"}}' for i in range(8)}
    errors: list[BaseException] = []
    start = threading.Barrier(len(contents))

    def writer(i: int) -> None:
        try:
            start.wait()
            for _ in range(25):
                write_text_atomic(target, contents[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_text() in contents.values()
    assert leftovers(tmp_path, target) == []


def test_a_name_in_use_is_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The random part of the name repeats once: the second writer must not take (or clobber) the first's file.
    tokens = iter(["c0ffee", "c0ffee", "beef00"])
    monkeypatch.setattr(secrets, "token_hex", lambda *_: next(tokens))
    target = tmp_path / "seg-00001.mp4"
    with contextlib.suppress(RuntimeError), atomic_path(target) as first:
        raise RuntimeError("learn the first name, leave nothing behind")
    assert not first.exists()
    first.write_bytes(b"another writer's half-written segment")
    with atomic_path(target) as second:
        assert second != first
        second.write_bytes(b"mine")
    assert target.read_bytes() == b"mine"
    assert first.read_bytes() == b"another writer's half-written segment"


def test_exclusive_create_refuses_an_existing_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every random name is taken: the writer fails, and touches neither the other file nor the target.
    monkeypatch.setattr(secrets, "token_hex", lambda *_: "c0ffee")
    target = tmp_path / "report.json"
    with contextlib.suppress(RuntimeError), atomic_path(target) as taken:
        raise RuntimeError("learn the name")
    taken.write_text("someone else's")
    with pytest.raises(FileExistsError), atomic_path(target) as tmp:
        tmp.write_text("mine")
    assert taken.read_text() == "someone else's"
    assert not target.exists()


def test_failure_removes_the_temp_file_and_keeps_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "output.mkv"
    target.write_bytes(b"previous output")
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("encoder failed")
    assert target.read_bytes() == b"previous output"
    assert leftovers(tmp_path, target) == []


def test_the_file_gets_the_umask_mode_of_a_plain_open(tmp_path: Path) -> None:
    # Other pods (and the copy-out pod) read what a worker wrote: no private 0600 temp-file mode.
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "detections.json", "{}")
    finally:
        os.umask(umask)
    assert (tmp_path / "detections.json").stat().st_mode & 0o777 == 0o644
