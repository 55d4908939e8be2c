"""`videojob submit|list|status|watch|logs|cancel`: VideoJobs on a cluster (also `kubectl videojob ...`).

Every failure ends in one line on stderr and exit code 1: no kubeconfig, API server unreachable, CRD not
installed, VideoJob not found, forbidden, or refused by validation.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from pathlib import PurePosixPath
from typing import Any

from videojob.operator import api, naming

from .cluster import CliError, Cluster
from .jobopts import add_job_options, camel_sections, job_sections
from .kubeview import FINAL, Watcher, describe
from .messages import validation_line
from .output import FORMATS, as_list, dump, table

JOB_NAME = "NAME"  # shtab's completion for VideoJob names hangs off this metavar (see completion.py)


def add_parsers(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-n", "--namespace", help="namespace of the VideoJob (default: the kubeconfig context's, else default)"
    )
    common.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod its ServiceAccount)"
    )
    common.add_argument("--context", help="kubeconfig context to use (default: the current one)")
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("-o", "--output", choices=FORMATS, help="print the object(s) as json, yaml, or kind/name lines")

    _add_submit(sub, common, fmt)

    listing = sub.add_parser(
        "list", aliases=["ls"], parents=[common, fmt], help="list VideoJobs with their phase and progress"
    )
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", help="VideoJobs of every namespace (needs the right to list)"
    )
    listing.add_argument("-l", "--selector", help="label selector, e.g. team=media")
    listing.set_defaults(func=cmd_list)

    status = sub.add_parser("status", parents=[common, fmt], help="a VideoJob's phase, progress and output")
    status.add_argument("name", metavar=JOB_NAME, help="the VideoJob")
    status.add_argument("--json", action="store_true", help="print only .status, as JSON")
    status.set_defaults(func=cmd_status)

    watch = sub.add_parser(
        "watch", parents=[common], help="live progress through the API's watch until Succeeded or Failed"
    )
    watch.add_argument("name", metavar=JOB_NAME, help="the VideoJob")
    watch.set_defaults(func=cmd_watch)

    logs = sub.add_parser("logs", parents=[common], help="logs of a VideoJob's detect, segment or finalize pods")
    logs.add_argument("name", metavar=JOB_NAME, help="the VideoJob")
    which = logs.add_mutually_exclusive_group()
    which.add_argument("--segment", type=int, metavar="I", help="only the pod(s) of segment I")
    which.add_argument(
        "--stage",
        choices=["detect", "segments", "finalize"],
        help="only this stage's pods (default: the stage now running; with -f every stage as it comes)",
    )
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="stream the logs of the job's pods as they run, each line prefixed with its pod's stage, until the "
        "VideoJob succeeds or fails",
    )
    logs.add_argument("--tail", type=int, metavar="N", help="last N lines of each pod only")
    logs.set_defaults(func=cmd_logs)

    cancel = sub.add_parser("cancel", parents=[common], help="delete a VideoJob and its pods")
    cancel.add_argument("name", metavar=JOB_NAME, help="the VideoJob")
    cancel.add_argument(
        "--wait", type=float, default=10.0, help="seconds to wait for the operator to release it (default 10)"
    )
    cancel.add_argument(
        "--force",
        action="store_true",
        help="also remove the operator's finalizer (when the operator is gone); its pods and Job are then "
        "removed by the garbage collector",
    )
    cancel.set_defaults(func=cmd_cancel)


def _add_submit(sub: Any, common: argparse.ArgumentParser, fmt: argparse.ArgumentParser) -> None:
    s = sub.add_parser(
        "submit",
        parents=[common, fmt],
        help="create a VideoJob for a video on a volume claim",
        description="Create a VideoJob. With --dry-run, print it instead (-o yaml by default).",
    )
    s.add_argument("input", help="path of the video inside the claim, e.g. in/street.mp4, or s3://BUCKET/KEY")
    s.add_argument(
        "output_path",
        metavar="OUTPUT",
        help="path of the result inside the claim (or --output-claim), or s3://BUCKET/KEY",
    )
    s.add_argument(
        "--claim", required=True, help="PersistentVolumeClaim holding the input (with s3:// URLs: the work directory)"
    )
    s.add_argument("--output-claim", help="claim for the output (default: --claim)")
    s.add_argument("--name", help="VideoJob name (default: generated from the input's file name)")
    s.add_argument(
        "--dry-run",
        nargs="?",
        const="client",
        choices=["client", "server"],
        help="print the VideoJob instead of creating it: client (checked here) or server (also checked by the "
        "API server's schema and rules, nothing stored)",
    )
    add_job_options(
        s,
        {
            "--model": "YOLO weights: relative = on the claim, absolute = in the worker image; never downloaded",
            "--template": "template image on the claim, for --detector template",
        },
    )
    s.add_argument("--gpus", type=int, help="GPUs per segment pod (0: CPU, software encoding; default 1)")
    s.add_argument("--gpu-resource", help="extended resource for GPUs, e.g. nvidia.com/gpu or nvidia.com/mig-1g.10gb")
    s.add_argument(
        "--cpu",
        metavar="QUANTITY",
        help="CPU request of every worker pod, e.g. 500m or 2 (default: detect 500m, segments 1, finalize 1)",
    )
    s.add_argument(
        "--memory", metavar="QUANTITY", help="memory request and limit of each worker pod, e.g. 2Gi (default 4Gi)"
    )
    s.add_argument("--priority-class", metavar="NAME", help="PriorityClass of the worker pods")
    s.add_argument(
        "--node-selector",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="node label the worker pods need (repeatable, or comma separated)",
    )
    s.add_argument("--runtime-class", help="RuntimeClass of the worker pods, e.g. nvidia")
    s.add_argument("--image", help="worker image (default: the operator's)")
    s.add_argument("--max-parallel", type=int, help="segment pods running at once (default 8)")
    s.add_argument("--s3-endpoint", metavar="URL", help="S3-compatible server of s3:// URLs (default: AWS S3)")
    s.add_argument("--s3-region", metavar="REGION", help="region of the s3:// buckets")
    s.add_argument(
        "--s3-secret",
        metavar="NAME",
        help="Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (default: the pods' workload identity)",
    )
    s.add_argument("--watch", action="store_true", help="then follow it like `videojob watch`")
    s.set_defaults(func=cmd_submit)


def _entry(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except CliError as e:
            print(f"videojob: {e}", file=sys.stderr)
            return 1

    return run


def _places(args: argparse.Namespace) -> dict[str, Any]:
    """input, output and objectStore: a path on the claim, or an object (s3://) with the claim as scratch space."""
    objects = args.input.startswith("s3://"), args.output_path.startswith("s3://")
    inp = {"url": args.input} if objects[0] else {"claimName": args.claim, "path": args.input}
    out: dict[str, Any] = {"url": args.output_path} if objects[1] else {"path": args.output_path}
    if args.output_claim or any(objects):  # an object input has no claim: the work directory's must be named
        out["claimName"] = args.output_claim or args.claim
    places: dict[str, Any] = {"input": inp, "output": out}
    store = {"endpoint": args.s3_endpoint, "region": args.s3_region}
    store = {k: v for k, v in store.items() if v}
    if args.s3_secret:
        store["credentialsSecretRef"] = {"name": args.s3_secret}
    if store:
        places["objectStore"] = store
    return places


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The VideoJob spec the options describe (camelCase, only what was given: the CRD fills defaults)."""
    from pydantic import ValidationError

    try:
        job = camel_sections(job_sections(args))
    except ValidationError as e:
        raise CliError(f"invalid job: {validation_line(e)}") from None
    except ValueError as e:
        raise CliError(f"invalid job: {e}") from None
    spec: dict[str, Any] = {**_places(args), **job}
    resources = {
        k: v
        for k, v in (
            ("gpusPerPod", args.gpus),
            ("gpuResourceName", args.gpu_resource),
            ("cpu", args.cpu),
            ("memory", args.memory),
        )
        if v is not None
    }
    if resources:
        spec["resources"] = resources
    if args.node_selector:
        spec["nodeSelector"] = _node_selector(args.node_selector)
    for key, value in (
        ("workerImage", args.image),
        ("runtimeClassName", args.runtime_class),
        ("priorityClassName", args.priority_class),
        ("maxParallelPods", args.max_parallel),
    ):
        if value is not None:
            spec[key] = value
    from videojob.operator.spec import VideoJobSpec

    try:
        VideoJobSpec.model_validate(spec)  # the operator's own model: refuse here what the operator would
    except ValidationError as e:
        raise CliError(f"invalid job: {validation_line(e)}") from None
    return spec


def _node_selector(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (p.strip() for v in values for p in v.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--node-selector {item!r}: expected KEY=VALUE, e.g. nvidia.com/gpu.product=NVIDIA-L4")
        out[key] = value
    return out


def _generate_name(path: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", PurePosixPath(path).stem.lower()).strip("-")[:40] or "job"
    return f"{stem}-"


def manifest(args: argparse.Namespace, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": args.name} if args.name else {"generateName": _generate_name(args.input)}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": meta, "spec": build_spec(args)}


@_entry
def cmd_submit(args: argparse.Namespace) -> int:
    if args.dry_run == "client":
        # Nothing is sent: a kubeconfig only lends its namespace when there is one.
        namespace = args.namespace
        if namespace is None:
            with contextlib.suppress(CliError):
                namespace = Cluster(args).namespace
        print(dump(manifest(args, namespace), args.output or "yaml"))
        return 0
    k = Cluster(args)
    body = manifest(args, k.namespace)
    created = k.create(body, dry_run=args.dry_run == "server")
    if args.dry_run:
        print(dump(created, args.output or "yaml"))
        return 0
    name = created["metadata"]["name"]
    if args.output:
        print(dump(created, args.output))
    else:
        print(f"videojob {name} created in namespace {k.namespace}")
    if args.watch:
        return _watch(k, name)
    return 0


@_entry
def cmd_list(args: argparse.Namespace) -> int:
    k = Cluster(args)
    listing = as_list(k.list_jobs(args.all_namespaces, args.selector))
    if args.output:
        print(dump(listing, args.output))
        return 0
    if not listing["items"]:
        where = "any namespace" if args.all_namespaces else f"namespace {k.namespace}"
        print(f"No VideoJobs in {where}.", file=sys.stderr)
        return 0
    print(table(listing["items"], namespaces=args.all_namespaces))
    return 0


@_entry
def cmd_status(args: argparse.Namespace) -> int:
    job = Cluster(args).get(args.name)
    if args.output:
        print(dump(job, args.output))
    elif args.json:
        print(dump(job.get("status") or {}, "json"))
    else:
        print(describe(job))
    return 0


@_entry
def cmd_watch(args: argparse.Namespace) -> int:
    return _watch(Cluster(args), args.name)


def _watch(k: Cluster, name: str) -> int:
    with Watcher(name) as view:
        for job in k.watch(name):
            phase = view.update(job)
            if phase in FINAL:
                return FINAL[phase]
    return 1  # unreachable: the watch ends only in an error


@_entry
def cmd_logs(args: argparse.Namespace) -> int:
    k = Cluster(args)
    if args.follow:
        from .follow import follow_logs

        return follow_logs(k, args.name, args.stage, args.segment, args.tail)
    job = k.get(args.name)
    phase = (job.get("status") or {}).get("phase") or "Pending"
    if args.segment is not None:
        stage = "segments"
    elif args.stage:
        stage = args.stage
    elif phase == "Processing":
        raise CliError(f"videojob {args.name} is processing segments: pass --segment I, or -f for every pod")
    else:
        stage = "detect" if phase in ("Pending", "Detecting") else "finalize"
    pods = k.pods(naming.selector(args.name, stage))
    if args.segment is not None:
        pods = [p for p in pods if segment_index(p) == args.segment]
    if not pods:
        what = f"segment {args.segment}" if args.segment is not None else stage
        raise CliError(f"no {what} pod for videojob {args.name} (phase {phase})")
    pod = max(pods, key=lambda p: p.metadata.creation_timestamp)
    text = k.log(pod.metadata.name, args.tail)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def segment_index(pod: Any) -> int | None:
    value = (pod.metadata.annotations or {}).get("batch.kubernetes.io/job-completion-index")
    return int(value) if value is not None and value.isdigit() else None


@_entry
def cmd_cancel(args: argparse.Namespace) -> int:
    k = Cluster(args)
    what = f"videojob {args.name!r}"
    k.call(what, k.custom.delete_namespaced_custom_object, api.GROUP, api.VERSION, k.namespace, api.PLURAL, args.name)
    if args.force:
        # The operator's finalizer (kopf keeps one while its timer runs) holds the object while no operator runs;
        # without it the API server removes the object, and the garbage collector its pods and Job.
        with contextlib.suppress(CliError):  # already gone
            k.call(
                what,
                k.custom.patch_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                k.namespace,
                api.PLURAL,
                args.name,
                {"metadata": {"finalizers": None}},
            )
    deadline = time.monotonic() + max(0.0, args.wait)
    while _exists(k, args.name):
        if time.monotonic() >= deadline:
            raise CliError(
                f"videojob {args.name!r} is marked for deletion but the operator has not released it (is it "
                f"running?); wait, or run: videojob cancel {args.name} --force -n {k.namespace}"
            )
        time.sleep(0.5)
    print(f"videojob {args.name} deleted from namespace {k.namespace} (its pods and Job go with it)")
    return 0


def _exists(k: Cluster, name: str) -> bool:
    """Whether the VideoJob is still there; an unreachable API server is an error, not "gone"."""
    from kubernetes.client.exceptions import ApiException

    def read(**kw: Any) -> Any:
        try:
            return k.custom.get_namespaced_custom_object(api.GROUP, api.VERSION, k.namespace, api.PLURAL, name, **kw)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    return k.call(f"videojob {name!r}", read) is not None
