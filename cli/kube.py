"""`videojob submit|status|watch|logs|cancel`: VideoJobs on a cluster (also `kubectl videojob ...`).

Every failure ends in one line on stderr and exit code 1: no kubeconfig, API server unreachable, CRD not
installed, VideoJob not found, forbidden, or refused by validation.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from pathlib import PurePosixPath
from typing import Any

from videojob.operator import api, naming

from .kubeview import FINAL, Watcher, describe

TIMEOUT = (5, 30)


class CliError(Exception):
    """One line for a person; exit code 1."""


def add_parsers(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="default: the kubeconfig context's namespace, else default")
    common.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config, in a pod its ServiceAccount")
    common.add_argument("--context", help="kubeconfig context (default: the current one)")

    submit = sub.add_parser("submit", parents=[common], help="create a VideoJob for a video on a volume claim")
    submit.add_argument("input", help="path of the video inside the claim, e.g. in/street.mp4")
    submit.add_argument("--claim", required=True, help="PersistentVolumeClaim holding the input")
    submit.add_argument("-o", "--output", required=True, help="output path inside the claim (or --output-claim)")
    submit.add_argument("--output-claim", help="claim for the output (default: --claim)")
    submit.add_argument("--name", help="VideoJob name (default: generated from the input's name)")
    submit.add_argument("--op", choices=["blur", "pixelate", "fill", "inpaint", "none"], default="blur")
    submit.add_argument("--detector", choices=["yolo", "template", "static", "none"])
    submit.add_argument("--model", help="YOLO weights: relative = on the claim, absolute = in the image")
    submit.add_argument("--template", help="template image on the claim, for --detector template")
    submit.add_argument("--region", action="append", default=[], metavar="X,Y,W,H", help="fixed region in 0..1")
    submit.add_argument("--classes", help="YOLO class ids, comma separated")
    submit.add_argument("--dense", action="store_true", help="segments re-detect on their own frames")
    submit.add_argument("--segments", type=int, help="number of segments (default: planned from the video)")
    submit.add_argument("--gpus", type=int, help="GPUs per segment pod (0: CPU, software encoding)")
    submit.add_argument("--gpu-resource", help="e.g. nvidia.com/gpu or nvidia.com/mig-1g.10gb")
    submit.add_argument("--runtime-class", help="RuntimeClass of the worker pods, e.g. nvidia")
    submit.add_argument("--image", help="worker image (default: the operator's)")
    submit.add_argument("--max-parallel", type=int, help="segment pods at once")
    submit.add_argument("--codec", choices=["h264", "hevc"])
    submit.add_argument("--encoder", choices=["auto", "nvenc", "software"])
    submit.add_argument(
        "--hwaccel", choices=["auto", "cuda", "none"], help="segment decoding: NVDEC (cuda) or software"
    )
    submit.add_argument("--watch", action="store_true", help="then follow it like `videojob watch`")
    submit.set_defaults(func=cmd_submit)

    status = sub.add_parser("status", parents=[common], help="a VideoJob's phase, progress and output")
    status.add_argument("name")
    status.add_argument("--json", action="store_true", help="print .status as JSON")
    status.set_defaults(func=cmd_status)

    watch = sub.add_parser("watch", parents=[common], help="live progress bars until Succeeded or Failed")
    watch.add_argument("name")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    watch.set_defaults(func=cmd_watch)

    logs = sub.add_parser("logs", parents=[common], help="logs of a VideoJob's detect, segment or finalize pod")
    logs.add_argument("name")
    which = logs.add_mutually_exclusive_group()
    which.add_argument("--segment", type=int, metavar="I", help="the pod of segment I")
    which.add_argument("--stage", choices=["detect", "finalize"], help="default: the stage now running")
    logs.add_argument("--tail", type=int, help="last N lines only")
    logs.set_defaults(func=cmd_logs)

    cancel = sub.add_parser("cancel", parents=[common], help="delete a VideoJob and its pods")
    cancel.add_argument("name")
    cancel.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the operator to release it")
    cancel.add_argument(
        "--force",
        action="store_true",
        help="also remove the operator's finalizer (when the operator is gone); its pods and Job are then "
        "removed by the garbage collector",
    )
    cancel.set_defaults(func=cmd_cancel)


def _entry(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args, Cluster(args)) or 0)
        except CliError as e:
            print(f"videojob: {e}", file=sys.stderr)
            return 1

    return run


class Cluster:
    """The kubernetes client, with the few calls the commands make and their errors turned into one line."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kubernetes import client, config  # lazily: `videojob run` never pays for it

        self.client = client
        try:
            if args.kubeconfig or args.context or not _in_cluster():
                self.api = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
                contexts, current = config.list_kube_config_contexts(config_file=args.kubeconfig)
                chosen = next((c for c in contexts if c["name"] == args.context), None) if args.context else current
                default_ns = (chosen or {}).get("context", {}).get("namespace") or "default"
            else:
                config.load_incluster_config()
                self.api = client.ApiClient()
                with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                    default_ns = f.read().strip()
        except (config.ConfigException, OSError) as e:
            raise CliError(f"no usable kubeconfig ({_line(e)}): set KUBECONFIG or pass --kubeconfig") from None
        self.api.configuration.retries = 0  # fail fast when the API server is down
        self.namespace = args.namespace or default_ns
        self.server = self.api.configuration.host
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    def call(self, what: str, fn: Any, *a: Any, **kw: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*a, _request_timeout=TIMEOUT, **kw)
        except HTTPError as e:
            raise CliError(f"cannot reach the Kubernetes API server at {self.server}: {_line(e)}") from None
        except ApiException as e:
            raise CliError(self._explain(what, e)) from None

    def _explain(self, what: str, e: Any) -> str:
        try:
            body = json.loads(e.body or "{}")
        except ValueError:
            body = {}
        message = _line(body.get("message") or e.reason or str(e.status))
        if e.status == 404 and not self.crd_installed():
            return (
                f"the VideoJob CRD ({api.PLURAL}.{api.GROUP}) is not installed in this cluster: "
                "kubectl apply -f crds/videojob.yaml, or helm install charts/videojob-operator"
            )
        if e.status == 404:
            return f"{what} not found in namespace {self.namespace!r}"
        if e.status == 409:
            return f"{what} already exists in namespace {self.namespace!r}: pick another --name"
        if e.status == 403:
            return f"forbidden: {message}"
        if e.status == 401:
            return f"not authorized by {self.server}: check the kubeconfig's credentials"
        return f"{what}: {message}"

    def crd_installed(self) -> bool:
        """Discovery: does the API server serve videojob.dev/v1alpha1 at all?"""
        try:
            groups = self.client.ApisApi(self.api).get_api_versions(_request_timeout=TIMEOUT).groups
        except Exception:
            return True  # cannot tell: say "not found" rather than blame the CRD
        return any(g.name == api.GROUP and any(v.version == api.VERSION for v in g.versions) for g in groups)

    def get(self, name: str) -> dict[str, Any]:
        return self.call(
            f"videojob {name!r}",
            self.custom.get_namespaced_custom_object,
            api.GROUP,
            api.VERSION,
            self.namespace,
            api.PLURAL,
            name,
        )


def _in_cluster() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG")


def _line(e: object) -> str:
    return " ".join(str(e).split())[:400]


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The VideoJob spec the options describe (camelCase, only what was given: the CRD fills defaults)."""
    detector: dict[str, Any] = {}
    kind = args.detector or (
        "static" if args.region else "template" if args.template else "yolo" if args.model else "none"
    )
    detector["kind"] = kind
    if args.region:
        detector["regions"] = [_region(r) for r in args.region]
    for key, value in (("model", args.model), ("template", args.template)):
        if value:
            detector[key] = value
    if args.classes:
        detector["classes"] = [int(c) for c in args.classes.split(",")]
    if args.dense:
        detector["dense"] = True
    spec: dict[str, Any] = {
        "input": {"claimName": args.claim, "path": args.input},
        "output": {"path": args.output, **({"claimName": args.output_claim} if args.output_claim else {})},
        "detector": detector,
        "operation": {"kind": args.op},
    }
    if args.segments:
        spec["segmentation"] = {"segments": args.segments}
    resources = {k: v for k, v in (("gpusPerPod", args.gpus), ("gpuResourceName", args.gpu_resource)) if v is not None}
    if resources:
        spec["resources"] = resources
    encode = {k: v for k, v in (("codec", args.codec), ("encoder", args.encoder)) if v}
    if encode:
        spec["encode"] = encode
    if args.hwaccel:
        spec["decode"] = {"hwaccel": args.hwaccel}
    for key, value in (
        ("workerImage", args.image),
        ("runtimeClassName", args.runtime_class),
        ("maxParallelPods", args.max_parallel),
    ):
        if value is not None:
            spec[key] = value
    from pydantic import ValidationError
    from videojob.operator.spec import VideoJobSpec

    try:
        VideoJobSpec.model_validate(spec)  # the operator's own model: refuse here what the operator would
    except ValidationError as e:
        err = e.errors()[0]
        raise CliError(f"invalid job: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    return spec


def _region(text: str) -> dict[str, float]:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise CliError(f"--region {text!r}: expected X,Y,W,H as four numbers in 0..1") from None
    return {"left": x, "top": y, "width": w, "height": h}


def _generate_name(path: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", PurePosixPath(path).stem.lower()).strip("-")[:40] or "job"
    return f"{stem}-"


@_entry
def cmd_submit(args: argparse.Namespace, k: Cluster) -> int:
    meta: dict[str, Any] = {"name": args.name} if args.name else {"generateName": _generate_name(args.input)}
    body = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": meta, "spec": build_spec(args)}
    what = f"videojob {args.name!r}" if args.name else "videojob"
    created = k.call(
        what, k.custom.create_namespaced_custom_object, api.GROUP, api.VERSION, k.namespace, api.PLURAL, body
    )
    name = created["metadata"]["name"]
    print(f"videojob {name} created in namespace {k.namespace}")
    if args.watch:
        args.name, args.interval = name, 1.0
        return _watch(args, k)
    return 0


@_entry
def cmd_status(args: argparse.Namespace, k: Cluster) -> int:
    job = k.get(args.name)
    status = job.get("status") or {}
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return 0
    print(describe(job))
    return 0


@_entry
def cmd_watch(args: argparse.Namespace, k: Cluster) -> int:
    return _watch(args, k)


def _watch(args: argparse.Namespace, k: Cluster) -> int:
    with Watcher(args.name) as view:
        while True:
            job = k.get(args.name)
            phase = view.update(job)
            if phase in FINAL:
                return FINAL[phase]
            time.sleep(args.interval)


@_entry
def cmd_logs(args: argparse.Namespace, k: Cluster) -> int:
    job = k.get(args.name)
    phase = (job.get("status") or {}).get("phase") or "Pending"
    if args.segment is not None:
        stage = "segments"
    elif args.stage:
        stage = args.stage
    elif phase == "Processing":
        raise CliError(f"videojob {args.name} is processing segments: pass --segment I")
    else:
        stage = "detect" if phase in ("Pending", "Detecting") else "finalize"
    pods = k.call(
        "pods", k.core.list_namespaced_pod, k.namespace, label_selector=naming.selector(args.name, stage)
    ).items
    if args.segment is not None:
        pods = [
            p
            for p in pods
            if (p.metadata.annotations or {}).get("batch.kubernetes.io/job-completion-index") == str(args.segment)
        ]
    if not pods:
        what = f"segment {args.segment}" if args.segment is not None else stage
        raise CliError(f"no {what} pod for videojob {args.name} (phase {phase})")
    pod = max(pods, key=lambda p: p.metadata.creation_timestamp)
    text = k.call(
        f"logs of pod {pod.metadata.name!r}",
        k.core.read_namespaced_pod_log,
        pod.metadata.name,
        k.namespace,
        container=api.WORKER_CONTAINER,
        tail_lines=args.tail,
    )
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


@_entry
def cmd_cancel(args: argparse.Namespace, k: Cluster) -> int:
    k.call(
        f"videojob {args.name!r}",
        k.custom.delete_namespaced_custom_object,
        api.GROUP,
        api.VERSION,
        k.namespace,
        api.PLURAL,
        args.name,
    )
    if args.force:
        # The operator's finalizer (kopf keeps one while its timer runs) holds the object while no operator runs;
        # without it the API server removes the object, and the garbage collector its pods and Job.
        with contextlib.suppress(CliError):  # already gone
            k.call(
                f"videojob {args.name!r}",
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
