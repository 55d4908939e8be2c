"""ChildContext: a VideoJob resolved into what every child manifest needs (paths, image, owner)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .. import api
from ..naming import workdir_name
from ..spec import VideoJobSpec


class InvalidSpecError(ValueError):
    """The VideoJob cannot run as written; str(e) is one line naming the field."""


def relative_path(value: str, field: str) -> str:
    """`value` normalised; refuses what would leave the volume (as the CRD's CEL rule does)."""
    if not value or value.startswith("/"):
        raise InvalidSpecError(f"{field}: {value!r} must be a path relative to the volume, not an absolute path")
    if ".." in value.split("/"):
        raise InvalidSpecError(f"{field}: {value!r} must not contain '..': it would escape the volume")
    normal = posixpath.normpath(value)
    if normal in (".", "") or normal.startswith(".."):
        raise InvalidSpecError(f"{field}: {value!r} does not name a file inside the volume")
    return normal


@dataclass(frozen=True)
class Volume:
    name: str
    claim: str
    mount: str
    read_only: bool


@dataclass(frozen=True)
class ChildContext:
    name: str
    namespace: str
    uid: str
    spec: VideoJobSpec
    image: str
    redis_url: str | None
    volumes: tuple[Volume, ...]
    input_path: str
    output_path: str
    workdir: str
    # spec.redis.urlSecretRef (name, key): the user's Secret with the Redis URL. Then redis_url is None: the
    # operator reads the Secret when it needs the URL, and the pods read it themselves.
    redis_secret: tuple[str, str] | None = None
    # The VideoJob's labels and annotations that its Jobs carry too (OperatorSettings.propagate_keys).
    job_labels: tuple[tuple[str, str], ...] = ()
    job_annotations: tuple[tuple[str, str], ...] = ()
    child_ttl_seconds: int = 600

    @property
    def job_key(self) -> str:
        """The Redis key's job part: with the uid, so that a VideoJob recreated under the same name never reads the
        progress of the one before it."""
        return f"{self.namespace}/{self.name}/{self.uid}"

    @property
    def reports_progress(self) -> bool:
        return bool(self.redis_url or self.redis_secret)

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": api.API_VERSION,
            "kind": api.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def config_json(self) -> str:
        config = self.spec.pipeline_config()
        detector = config["detector"]
        # Relative model/template paths live on the input volume; absolute ones are inside the worker image.
        for key in ("model", "template"):
            if detector.get(key) and not detector[key].startswith("/"):
                detector[key] = posixpath.join(
                    self.volumes[0].mount, relative_path(detector[key], f"spec.detector.{key}")
                )
        return json.dumps(config, separators=(",", ":"), sort_keys=True)


def _matching(values: Mapping[str, str] | None, keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    def wanted(key: str) -> bool:
        return any(key.startswith(k) if k.endswith("/") else key == k for k in keys)

    return tuple(sorted((k, v) for k, v in (values or {}).items() if wanted(k)))


def _places(spec: VideoJobSpec) -> tuple[tuple[Volume, ...], str, str, str]:
    """The claims to mount, the input and output as the worker sees them (a path under a mount, or an s3:// URL),
    and the mount of the claim that holds the work directory (the output's, else the input's)."""
    inp, out = spec.input, spec.output
    if inp.url and out.url and inp.url == out.url:
        raise InvalidSpecError(f"spec.output.url: {out.url!r} is the input itself; choose another object")
    out_claim = out.claim_name or inp.claim_name
    if out_claim is None:
        raise InvalidSpecError(
            "spec.output.claimName: the work directory needs a claim when the input is an object url"
        )
    in_path = relative_path(inp.path, "spec.input.path") if inp.claim_name and inp.path else None
    out_path = relative_path(out.path, "spec.output.path") if out.path else None
    if inp.claim_name is None or inp.claim_name == out_claim:
        if in_path is not None and in_path == out_path:
            raise InvalidSpecError(f"spec.output.path: {out_path!r} is the input itself; choose another file")
        volumes: tuple[Volume, ...] = (Volume("data", out_claim, api.DATA_MOUNT, False),)
        in_mount = out_mount = api.DATA_MOUNT
    else:
        volumes = (
            Volume("input", inp.claim_name, api.INPUT_MOUNT, True),
            Volume("output", out_claim, api.OUTPUT_MOUNT, False),
        )
        in_mount, out_mount = api.INPUT_MOUNT, api.OUTPUT_MOUNT
    input_path = inp.url or posixpath.join(in_mount, in_path or "")
    output_path = out.url or posixpath.join(out_mount, out_path or "")
    return volumes, input_path, output_path, out_mount


def context_from_body(
    body: Mapping[str, Any],
    *,
    default_image: str,
    default_redis_url: str | None = None,
    propagate_keys: tuple[str, ...] = (),
    child_ttl_seconds: int = 600,
) -> ChildContext:
    meta = body["metadata"]
    try:
        spec = VideoJobSpec.model_validate(body.get("spec") or {})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidSpecError(f"spec.{where}: {first['msg']}") from None
    volumes, input_path, output_path, out_mount = _places(spec)
    image = spec.worker_image or default_image
    if not image:
        raise InvalidSpecError("spec.workerImage: not set, and the operator has no VIDEOJOB_WORKER_IMAGE default")
    return ChildContext(
        name=meta["name"],
        namespace=meta["namespace"],
        uid=meta["uid"],
        spec=spec,
        image=image,
        redis_url=None if spec.redis else default_redis_url,
        redis_secret=(spec.redis.url_secret_ref.name, spec.redis.url_secret_ref.key) if spec.redis else None,
        volumes=volumes,
        input_path=input_path,
        output_path=output_path,
        workdir=posixpath.join(out_mount, ".videojob", workdir_name(meta["namespace"], meta["name"], meta["uid"])),
        job_labels=_matching(meta.get("labels"), propagate_keys),
        job_annotations=_matching(meta.get("annotations"), propagate_keys),
        child_ttl_seconds=child_ttl_seconds,
    )
