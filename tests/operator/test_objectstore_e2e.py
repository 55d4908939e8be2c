"""A VideoJob whose input and output are objects on a real S3 server (SeaweedFS on the host, tests/support/s3_server.py),
run by the real operator on the real node: the pods reach the server through the node's bridge to a host port, get
the key pair only through secretKeyRef, keep their work directory on the claim, and finalize uploads the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from cluster.node import API_IP
from support.media import make_clip
from support.s3_server import REGION, S3Server, s3_server

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
__all__ = ["s3_server"]

INPUT, OUTPUT = "in/clip.mp4", "out/clip.mp4"


@pytest.fixture(scope="module")
def reachable(kube, s3_server: S3Server) -> S3Server:
    """The server's host port bridged into the node's namespace, once (its bridge lives as long as the node)."""
    kube.node.expose_host_port(s3_server.port)
    return s3_server


@pytest.fixture
def store(kube, videojobs, reachable: S3Server, tmp_path: Path) -> dict[str, object]:
    """The clip uploaded, the key pair in a Secret of the VideoJob's namespace, spec.objectStore for the pods."""
    s3_server = reachable
    clip = make_clip(tmp_path / "clip.mp4", 160, 120, frames=48, fps=24)
    s3_server.client().fput_object(s3_server.bucket, INPUT, str(clip))
    kube.kubectl(
        "create", "secret", "generic", "s3-keys", "-n", videojobs.namespace,
        f"--from-literal=AWS_ACCESS_KEY_ID={s3_server.access_key}",
        f"--from-literal=AWS_SECRET_ACCESS_KEY={s3_server.secret_key}",
    )  # fmt: skip
    kube.kubectl(
        "create", "secret", "generic", "s3-wrong", "-n", videojobs.namespace,
        f"--from-literal=AWS_ACCESS_KEY_ID={s3_server.access_key}", "--from-literal=AWS_SECRET_ACCESS_KEY=wrong",
    )  # fmt: skip
    endpoint = f"http://{API_IP}:{s3_server.port}"
    return {"endpoint": endpoint, "region": REGION, "credentialsSecretRef": {"name": "s3-keys"}}


def object_spec(videojobs, store: dict[str, object], bucket: str, out: str = OUTPUT) -> dict[str, object]:
    spec = videojobs.spec(segments=2)
    spec["input"] = {"url": f"s3://{bucket}/{INPUT}"}
    spec["output"] = {"url": f"s3://{bucket}/{out}", "claimName": videojobs.claim}
    spec["objectStore"] = store
    return spec


def test_objects_in_and_out_on_the_cluster(kube, operator, videojobs, s3_server: S3Server, store, tmp_path) -> None:
    videojobs.apply("objects", object_spec(videojobs, store, s3_server.bucket))
    st = videojobs.wait_phase("objects", "Succeeded", timeout=240)
    url = f"s3://{s3_server.bucket}/{OUTPUT}"
    assert st["output"]["path"] == url
    found = s3_server.client().stat_object(s3_server.bucket, OUTPUT)
    assert found.size == st["output"]["bytes"]
    fetched = tmp_path / "out.mp4"
    s3_server.client().fget_object(s3_server.bucket, OUTPUT, str(fetched))
    with av.open(str(fetched)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 48

    # Every pod got the key pair by reference only; no value of the secret is in any pod spec.
    pods = videojobs.runs("objects", "detect") + videojobs.runs("objects") + videojobs.runs("objects", "finalize")
    assert len(pods) >= 4
    for pod in pods:
        assert pod.secret_refs["AWS_SECRET_ACCESS_KEY"] == ("s3-keys", "AWS_SECRET_ACCESS_KEY")
        assert pod.env["VIDEOJOB_INPUT"] == f"s3://{s3_server.bucket}/{INPUT}"
        assert s3_server.secret_key not in json.dumps(pod.env)
    # The claim was only scratch: nothing of the job is left on it (the work directory goes after success).
    assert [p for p in videojobs.volume.rglob("*") if p.is_file()] == []
    s3_server.client().remove_object(s3_server.bucket, OUTPUT)


def test_refused_credentials_fail_the_job_in_one_line(kube, operator, videojobs, s3_server: S3Server, store) -> None:
    wrong = {**store, "credentialsSecretRef": {"name": "s3-wrong"}}
    videojobs.apply("refused", object_spec(videojobs, wrong, s3_server.bucket, out="out/refused.mp4"))
    st = videojobs.wait_phase("refused", "Failed", timeout=180)
    assert "refused the credentials" in st["message"] and "\n" not in st["message"], st["message"]
    assert len(videojobs.runs("refused")) == 0  # failed in detect: no segment ran
    assert list(s3_server.client().list_objects(s3_server.bucket, prefix="out/refused")) == []


@pytest.mark.parametrize(
    ("places", "message"),
    [
        (
            {
                "input": {"url": "s3://media/in.mp4", "claimName": "media", "path": "in.mp4"},
                "output": {"path": "o.mp4"},
            },
            "give either claimName and path",
        ),
        ({"input": {"claimName": "media", "path": "in.mp4"}, "output": {"claimName": "media"}}, "give either path"),
        ({"input": {"url": "s3://media/in.mp4"}, "output": {"url": "s3://media/out.mp4"}}, "needs a claim"),
        ({"input": {"url": "s3://media/"}, "output": {"path": "o.mp4", "claimName": "media"}}, "should match"),
    ],
)
def test_object_places_are_checked_at_admission(kube, videojobs, places: dict[str, object], message: str) -> None:
    """The API server refuses a VideoJob that names both a file and an object, neither, or no claim for the work
    directory, before any operator sees it."""
    spec = {**videojobs.spec(), **places}
    refused = videojobs.apply("bad-places", spec, check=False)
    assert refused.returncode != 0 and message in refused.stderr, refused.stderr
