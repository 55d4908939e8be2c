"""One writer per output: a coordination.k8s.io Lease per output file, held by the VideoJob that writes it.

Two VideoJobs writing one file would both report `Succeeded` while one silently replaced the other's output. The
Lease's name is a hash of the output's claim and normalised path, in the VideoJob's namespace (claims are
namespaced, so the same file is always the same Lease). The operator takes it before the detect Job exists:

- create: the output is free, the Lease is ours;
- 409, held by us (a restarted operator): ours already;
- 409, held by a VideoJob that still exists under that uid and has not ended: this VideoJob fails, naming the path
  and the other job;
- 409, held by one that is gone or has ended (its release was lost): taken over with an update guarded by the
  Lease's resourceVersion, so that of two takers only one wins.

Released (deleted, if still ours) when the job ends; an ownerReference to the VideoJob lets the garbage collector
remove it with a deleted VideoJob. Pure build_* and holder_* functions, and acquire/release over the few API calls in kube.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import api
from .builders import ChildContext, relative_path
from .kube import Kube
from .naming import labels

LEASE_PREFIX = "videojob-output-"
OUTPUT_ANNOTATION = f"{api.GROUP}/output"


def output_id(ctx: ChildContext) -> str:
    """`claim:path` of the output (the path normalised by the builders: `out/./a.mp4` is `out/a.mp4`), or its URL."""
    if ctx.spec.output.url:
        return ctx.spec.output.url
    claim = ctx.spec.output.claim_name or ctx.spec.input.claim_name
    return f"{claim}:{relative_path(ctx.spec.output.path or '', 'spec.output.path')}"


def lease_name(ctx: ChildContext) -> str:
    return LEASE_PREFIX + hashlib.sha256(output_id(ctx).encode()).hexdigest()[:32]


def holder_identity(ctx: ChildContext) -> str:
    return f"{ctx.namespace}/{ctx.name}/{ctx.uid}"


def _micro_time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_output_lease(ctx: ChildContext, now: datetime, resource_version: str | None = None) -> dict[str, Any]:
    """The Lease held by this VideoJob; with resource_version, the update that takes over a released one."""
    meta: dict[str, Any] = {
        "name": lease_name(ctx),
        "namespace": ctx.namespace,
        "labels": labels(ctx.name, "output"),
        "annotations": {OUTPUT_ANNOTATION: output_id(ctx)},
        # Not the controller: the Lease outlives a holder that ended, until the next writer takes it over.
        "ownerReferences": [{**ctx.owner_reference(), "controller": False, "blockOwnerDeletion": False}],
    }
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {"holderIdentity": holder_identity(ctx), "acquireTime": _micro_time(now)},
    }


@dataclass(frozen=True)
class Holder:
    namespace: str
    name: str
    uid: str

    @classmethod
    def parse(cls, identity: str | None) -> Holder | None:
        parts = (identity or "").split("/")
        return cls(*parts) if len(parts) == 3 and all(parts) else None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def holder_of(lease: dict[str, Any]) -> Holder | None:
    return Holder.parse((lease.get("spec") or {}).get("holderIdentity"))


def holder_is_live(holder: Holder, videojob: dict[str, Any] | None) -> bool:
    """Whether the VideoJob named by the Lease still writes the output: it exists under the same uid (a VideoJob
    recreated under the name is another job) and has neither succeeded nor failed."""
    if videojob is None or videojob["metadata"].get("uid") != holder.uid:
        return False
    return (videojob.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def conflict_message(ctx: ChildContext, holder: Holder) -> str:
    return (
        f"spec.output: {output_id(ctx)} is being written by VideoJob {holder} (uid {holder.uid}); two jobs writing "
        "one file would overwrite each other: wait until it has ended, or choose another output path"
    )


def acquire(kube: Kube, ctx: ChildContext, now: datetime) -> Holder | None:
    """Take the output's Lease for this VideoJob; the live VideoJob that holds it instead, if any."""
    me = Holder.parse(holder_identity(ctx))
    for _ in range(3):  # a lost race (another taker, a release) is decided again on what is there now
        if kube.create_lease(build_output_lease(ctx, now)):
            return None
        lease = kube.get_lease(ctx.namespace, lease_name(ctx))
        if lease is None:
            continue  # released between our create and read
        holder = holder_of(lease)
        if holder == me:
            return None  # ours from before an operator restart
        if holder is not None and holder_is_live(holder, kube.get_videojob(holder.namespace, holder.name)):
            return holder
        version = lease["metadata"]["resourceVersion"]
        if kube.replace_lease(build_output_lease(ctx, now, resource_version=version)):
            return None
    raise LeaseContendedError(f"the Lease {lease_name(ctx)} for {output_id(ctx)} kept changing; trying again")


def release(kube: Kube, ctx: ChildContext) -> bool:
    """Give the output's Lease up if this VideoJob holds it (never another's); True when deleted now."""
    lease = kube.get_lease(ctx.namespace, lease_name(ctx))
    if lease is None or holder_of(lease) != Holder.parse(holder_identity(ctx)):
        return False
    return kube.delete_lease(ctx.namespace, lease_name(ctx), lease["metadata"]["resourceVersion"])


class LeaseContendedError(RuntimeError):
    """Several takers at once, three times over: transient, the next tick tries again."""
