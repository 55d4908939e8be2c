"""Object storage in and out (`s3://bucket/key`) against a real S3 server (SeaweedFS, tests/support/s3_server.py).

What a segment reads is measured at the server's side of a TCP relay (support.s3_server.ByteCounter); the upload's
parts by the object's multipart ETag; failures as a user meets them, through `videojob run` in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from support.cases import REGION
from support.media import make_clip
from support.s3_server import ByteCounter, S3Server, s3_server
from videojob.pipeline.config import EncodeConfig, JobConfig, OperationConfig, SegmentationConfig
from videojob.pipeline.detect import DetectorConfig
from videojob.pipeline.errors import BadInputError, TransientError
from videojob.pipeline.objectstore import MIN_PART_SIZE, av_input
from videojob.pipeline.runner import run_local
from videojob.pipeline.stages import detect_and_plan, process_segment

__all__ = ["s3_server"]

VIDEOJOB = Path(sys.executable).with_name("videojob")
FRAMES, SEGMENTS = 96, 4


def config(quality: int = 18) -> JobConfig:
    return JobConfig(
        detector=DetectorConfig(kind="static", regions=[REGION], padding=0.0),
        operation=OperationConfig(kind="blur"),
        segmentation=SegmentationConfig(segments=SEGMENTS, min_frames_per_segment=4),
        encode=EncodeConfig(quality=quality, preset="ultrafast"),
    )


@pytest.fixture(scope="module")
def source(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A lossless 640x360 clip (large enough for several parts once re-encoded losslessly), uploaded as an object."""
    path = make_clip(tmp_path_factory.mktemp("s3src") / "in.mp4", 640, 360, frames=FRAMES, fps=24, gop=12, crf=0)
    s3_server.client().fput_object(s3_server.bucket, "in/clip.mp4", str(path))
    return f"s3://{s3_server.bucket}/in/clip.mp4", path


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = s3_server.env(VIDEOJOB_S3_PART_SIZE=str(MIN_PART_SIZE))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield env


def stat(server: S3Server, key: str) -> Any:
    return server.client().stat_object(server.bucket, key)


def keys(server: S3Server, prefix: str = "") -> list[str]:
    found = server.client().list_objects(server.bucket, prefix=prefix, recursive=True)
    return sorted(o.object_name for o in found)


def open_uploads(server: S3Server) -> list[str]:
    # ListMultipartUploads: the MinIO client has no public call for it.
    listed = server.client()._list_multipart_uploads(server.bucket)
    return [u.object_name for u in listed.uploads]


def run_cli(*args: str, env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "TMPDIR": str(tmp)}  # the work directory of an object output goes there
    return subprocess.run([str(VIDEOJOB), "run", *args], capture_output=True, text=True, timeout=300, env=full)


def one_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("videojob: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_object_in_object_out_with_a_multipart_upload(
    s3_server: S3Server, source: tuple[str, Path], s3_env: dict[str, str], tmp_path: Path
) -> None:
    url, _ = source
    before = stat(s3_server, "in/clip.mp4")
    out = f"s3://{s3_server.bucket}/out/blurred.mp4"
    # Lossless, so the output is as large as the source: several 5 MiB parts.
    report = run_local(url, out, config(quality=0), workers=2)
    assert report.output == out
    found = stat(s3_server, "out/blurred.mp4")
    assert found.size == report.bytes > 2 * MIN_PART_SIZE
    parts = int(found.etag.rsplit("-", 1)[1])  # a multipart object's ETag ends in -<parts>
    assert parts == -(-found.size // MIN_PART_SIZE), found.etag
    assert open_uploads(s3_server) == []
    fetched = tmp_path / "fetched.mp4"
    s3_server.client().fget_object(s3_server.bucket, "out/blurred.mp4", str(fetched))
    with av.open(str(fetched)) as c:
        assert sum(1 for _ in c.decode(video=0)) == FRAMES
        assert len(c.streams.audio) == 1
    after = stat(s3_server, "in/clip.mp4")
    assert (after.etag, after.size) == (before.etag, before.size)  # the input is never touched
    s3_server.client().remove_object(s3_server.bucket, "out/blurred.mp4")


def test_a_segment_reads_only_its_byte_range(
    s3_server: S3Server,
    source: tuple[str, Path],
    s3_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, local = source
    size = local.stat().st_size
    counter = ByteCounter(s3_server.port)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", counter.endpoint)
        detect_and_plan(url, tmp_path, config())
        reads = []
        for index in range(SEGMENTS):
            counter.reset()
            process_segment(url, tmp_path, index)
            reads.append(counter.to_client)
    finally:
        counter.close()
    # Each segment holds a quarter of the frames; it downloads its own range plus the index (moov), never the object.
    for index, got in enumerate(reads):
        assert got < 0.5 * size, f"segment {index} read {got} of {size} bytes: {reads}"
    assert sum(reads) < 2 * size, reads


def test_missing_object_is_one_line_and_writes_nothing(
    s3_server: S3Server, s3_env: dict[str, str], tmp_path: Path
) -> None:
    out = f"s3://{s3_server.bucket}/out/never.mp4"
    result = run_cli(
        f"s3://{s3_server.bucket}/in/missing.mp4", "-o", out, "--region", "0.1,0.1,0.3,0.3", env=s3_env, tmp=tmp_path
    )
    one_line(result, "s3://videojob/in/missing.mp4", "no such object")
    assert keys(s3_server, "out/") == []
    assert list(tmp_path.iterdir()) == []


def test_missing_buckets_are_named(
    s3_server: S3Server, source: tuple[str, Path], s3_env: dict[str, str], tmp_path: Path
) -> None:
    url, _ = source
    result = run_cli("s3://no-such-bucket/in.mp4", "-o", f"s3://{s3_server.bucket}/out/x.mp4", env=s3_env, tmp=tmp_path)
    one_line(result, "bucket no-such-bucket does not exist")
    result = run_cli(url, "-o", "s3://no-such-bucket/out.mp4", env=s3_env, tmp=tmp_path)
    one_line(result, "output s3://no-such-bucket/out.mp4", "bucket no-such-bucket does not exist")
    assert keys(s3_server, "out/") == []
    assert list(tmp_path.iterdir()) == []


def test_wrong_credentials_are_one_line(
    s3_server: S3Server, source: tuple[str, Path], s3_env: dict[str, str], tmp_path: Path
) -> None:
    url, _ = source
    env = {**s3_env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    result = run_cli(url, "-o", f"s3://{s3_server.bucket}/out/x.mp4", env=env, tmp=tmp_path)
    line = one_line(result, "refused the credentials", "AWS_SECRET_ACCESS_KEY")
    assert s3_server.secret_key not in line
    env = {**s3_env, "AWS_ACCESS_KEY_ID": "AKNOBODY"}
    one_line(run_cli(url, "-o", f"s3://{s3_server.bucket}/out/x.mp4", env=env, tmp=tmp_path), "refused the credentials")
    assert keys(s3_server, "out/") == []
    assert list(tmp_path.iterdir()) == []


def test_unreachable_endpoint_is_one_line(
    s3_server: S3Server, source: tuple[str, Path], s3_env: dict[str, str], tmp_path: Path
) -> None:
    from support.redis_server import free_port

    url, _ = source
    env = {**s3_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    result = run_cli(url, "-o", f"s3://{s3_server.bucket}/out/x.mp4", env=env, tmp=tmp_path)
    one_line(result, "cannot reach http://127.0.0.1:", "Connection refused")
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_the_input_object_is_refused(
    s3_server: S3Server, source: tuple[str, Path], s3_env: dict[str, str], tmp_path: Path
) -> None:
    url, _ = source
    before = stat(s3_server, "in/clip.mp4").etag
    one_line(run_cli(url, "-o", url, env=s3_env, tmp=tmp_path), "is the input", "the same object")
    assert stat(s3_server, "in/clip.mp4").etag == before
    assert list(tmp_path.iterdir()) == []


def test_a_failed_upload_is_aborted(
    s3_server: S3Server,
    source: tuple[str, Path],
    s3_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every connection that carries more than 1 MiB is cut: the requests that start and abort the multipart upload
    get through, no part does. Nothing may be left: no object, no open upload."""
    url, _ = source
    cutter = ByteCounter(s3_server.port, cut_after=1 << 20)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", cutter.endpoint)
        with pytest.raises((TransientError, BadInputError)) as failed:
            run_local(url, f"s3://{s3_server.bucket}/out/cut.mp4", config(quality=0), workers=1, workdir=tmp_path / "w")
    finally:
        cutter.close()
    assert str(failed.value).startswith("output s3://videojob/out/cut.mp4: "), failed.value
    assert "\n" not in str(failed.value)
    assert keys(s3_server, "out/") == []
    assert open_uploads(s3_server) == []
    assert not (tmp_path / "w" / "output.mp4").exists()  # the scratch copy is removed too


def run_worker(stage: str, env: dict[str, str], tmp: Path, index: int | None = None) -> tuple[int, dict[str, Any]]:
    """`python -m videojob.worker STAGE` as a pod runs it: env only (the AWS_* variables as the operator sets them)."""
    log = tmp / f"termination-{stage}-{index}"
    full = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOJOB_", "AWS_"))}
    full.update(env, VIDEOJOB_TERMINATION_LOG=str(log), PYTHONSAFEPATH="1")
    if index is not None:
        full["JOB_COMPLETION_INDEX"] = str(index)
    proc = subprocess.run([sys.executable, "-m", "videojob.worker", stage], env=full, capture_output=True, timeout=300)
    return proc.returncode, json.loads(log.read_text())


def test_worker_stages_read_and_write_objects(
    s3_server: S3Server, source: tuple[str, Path], s3_env: dict[str, str], tmp_path: Path
) -> None:
    """The pods' path: detect, every segment and finalize with an object input and output, the work directory on
    the (scratch) volume; a wrong secret fails detect as bad input (exit 2, never retried)."""
    url, _ = source
    out = f"s3://{s3_server.bucket}/out/worker.mp4"
    work = tmp_path / "volume" / ".videojob" / "job"
    config = {"detector": {"kind": "static", "regions": [{"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3}]}}
    config["segmentation"] = {"segments": 2, "min_frames_per_segment": 4}
    env = {
        **s3_env,
        "VIDEOJOB_INPUT": url,
        "VIDEOJOB_OUTPUT": out,
        "VIDEOJOB_WORKDIR": str(work),
        "VIDEOJOB_OUTPUT_VOLUME": str(tmp_path / "volume"),
        "VIDEOJOB_CONFIG": json.dumps(config),
    }
    code, message = run_worker("detect", {**env, "AWS_SECRET_ACCESS_KEY": "wrong"}, tmp_path)
    assert (code, message["kind"]) == (2, "bad-input"), message
    assert "refused the credentials" in message["error"] and not work.exists()
    code, message = run_worker("detect", env, tmp_path)
    assert code == 0 and message["segments"] == 2, message
    for index in range(2):
        code, message = run_worker("segment", env, tmp_path, index)
        assert code == 0 and message["frames"] > 0, message
    code, message = run_worker("finalize", env, tmp_path)
    assert code == 0 and message["output"] == out, message
    assert stat(s3_server, "out/worker.mp4").size == message["bytes"]
    assert not (work / "output.mp4").exists()  # the scratch copy was uploaded and removed
    s3_server.client().remove_object(s3_server.bucket, "out/worker.mp4")


def test_an_object_replaced_while_it_is_read_fails_in_one_line(
    s3_server: S3Server, source: tuple[str, Path], s3_env: dict[str, str], tmp_path: Path
) -> None:
    """Every range asks for the ETag seen at open (If-Match): a new object under the key is never mixed in."""
    _, local = source
    s3_server.client().fput_object(s3_server.bucket, "in/replaced.mp4", str(local))
    reader = av_input(f"s3://{s3_server.bucket}/in/replaced.mp4")
    assert not isinstance(reader, str)
    head = reader.read(1000)
    assert head == local.read_bytes()[:1000]
    other = make_clip(tmp_path / "other.mp4", 64, 48, frames=12, fps=12)
    s3_server.client().fput_object(s3_server.bucket, "in/replaced.mp4", str(other))
    reader.seek(reader.size // 2)
    with pytest.raises(BadInputError, match=r"^input s3://videojob/in/replaced.mp4 changed while the job read it"):
        reader.read(1000)


def test_tls_certificates_are_checked(
    s3_server: S3Server, source: tuple[str, Path], s3_env: dict[str, str], tmp_path: Path
) -> None:
    """Over https the server's certificate must chain to a trusted CA: ours only when SSL_CERT_FILE names it."""
    url, _ = source
    env = {**s3_env, "AWS_ENDPOINT_URL": s3_server.https_endpoint}
    refused = subprocess.run(
        [str(VIDEOJOB), "probe", url], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )
    one_line(refused, "TLS certificate of https://127.0.0.1:", "not trusted", "SSL_CERT_FILE")
    trusted = {**os.environ, **env, "SSL_CERT_FILE": str(s3_server.ca)}
    probed = subprocess.run([str(VIDEOJOB), "probe", url], capture_output=True, text=True, timeout=120, env=trusted)
    assert probed.returncode == 0, probed.stderr
    assert json.loads(probed.stdout)["frames"] == FRAMES


def test_submit_names_objects_and_the_scratch_claim() -> None:
    """`videojob submit s3://... s3://... --claim scratch`: the VideoJob it would create (client dry run)."""
    args = [
        "submit",
        "s3://media/in/a.mp4",
        "s3://media/out/a.mp4",
        "--claim",
        "scratch",
        "--region",
        "0.1,0.1,0.2,0.2",
    ]
    args += ["--s3-endpoint", "http://minio:9000", "--s3-region", "us-east-1", "--s3-secret", "s3-keys"]
    out = subprocess.run([str(VIDEOJOB), *args, "--dry-run", "-o", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    spec = json.loads(out.stdout)["spec"]
    assert spec["input"] == {"url": "s3://media/in/a.mp4"}
    assert spec["output"] == {"url": "s3://media/out/a.mp4", "claimName": "scratch"}
    assert spec["objectStore"] == {
        "endpoint": "http://minio:9000",
        "region": "us-east-1",
        "credentialsSecretRef": {"name": "s3-keys"},
    }
