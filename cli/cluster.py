"""The Kubernetes API as the cluster commands use it: the calls they make, their failures as one line each."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from typing import Any

from videojob.operator import api

TIMEOUT = (5, 30)  # connect, read seconds
WATCH_SECONDS = 60  # one watch request; the server ends it then and the next one starts from the last version


class CliError(Exception):
    """One line for a person; exit code 1."""


def line(e: object) -> str:
    return " ".join(str(e).split())[:400]


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG")


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
            raise CliError(f"no usable kubeconfig ({line(e)}): set KUBECONFIG or pass --kubeconfig") from None
        self.api.configuration.retries = 0  # fail fast when the API server is down
        self.namespace: str = args.namespace or default_ns
        self.server = self.api.configuration.host
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    # ---- errors ------------------------------------------------------------------------------------------
    def call(self, what: str, fn: Any, *a: Any, **kw: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kw.setdefault("_request_timeout", TIMEOUT)
        try:
            return fn(*a, **kw)
        except HTTPError as e:
            raise CliError(f"cannot reach the Kubernetes API server at {self.server}: {line(e)}") from None
        except ApiException as e:
            raise CliError(self._explain(what, e)) from None

    def _explain(self, what: str, e: Any) -> str:
        try:
            body = json.loads(e.body or "{}")
        except ValueError:
            body = {}
        message = line(body.get("message") or e.reason or str(e.status))
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
        if e.status == 422:
            return f"the API server refused {what}: {_invalid(body) or message}"
        return f"{what}: {message}"

    def crd_installed(self) -> bool:
        """Discovery: does the API server serve videojob.dev/v1alpha1 at all?"""
        try:
            groups = self.client.ApisApi(self.api).get_api_versions(_request_timeout=TIMEOUT).groups
        except Exception:
            return True  # cannot tell: say "not found" rather than blame the CRD
        return any(g.name == api.GROUP and any(v.version == api.VERSION for v in g.versions) for g in groups)

    # ---- VideoJobs ---------------------------------------------------------------------------------------
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

    def list_jobs(self, all_namespaces: bool, selector: str | None) -> dict[str, Any]:
        kw = {"label_selector": selector} if selector else {}
        if all_namespaces:
            return self.call(
                "videojobs", self.custom.list_cluster_custom_object, api.GROUP, api.VERSION, api.PLURAL, **kw
            )
        return self.call(
            "videojobs",
            self.custom.list_namespaced_custom_object,
            api.GROUP,
            api.VERSION,
            self.namespace,
            api.PLURAL,
            **kw,
        )

    def create(self, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        name = body["metadata"].get("name")
        what = f"videojob {name!r}" if name else "videojob"
        kw = {"dry_run": "All"} if dry_run else {}
        return self.call(
            what,
            self.custom.create_namespaced_custom_object,
            api.GROUP,
            api.VERSION,
            self.namespace,
            api.PLURAL,
            body,
            **kw,
        )

    def watch(self, name: str) -> Iterator[dict[str, Any]]:
        """The VideoJob now, then each change of it, through the API's watch (one long request at a time, no
        polling). A watch whose resourceVersion expired (410 Gone) starts again from a fresh GET."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        job = self.get(name)
        yield job
        version = job["metadata"]["resourceVersion"]
        while True:
            stream = watch.Watch().stream(
                self.custom.list_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                self.namespace,
                api.PLURAL,
                field_selector=f"metadata.name={name}",
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=(TIMEOUT[0], WATCH_SECONDS + 30),
            )
            try:
                for event in stream:
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        raise CliError(f"videojob {name!r} was deleted from namespace {self.namespace!r}")
                    if event["type"] in ("ADDED", "MODIFIED"):
                        yield obj
            except HTTPError as e:
                raise CliError(f"cannot reach the Kubernetes API server at {self.server}: {line(e)}") from None
            except ApiException as e:
                if e.status != 410:
                    raise CliError(self._explain(f"videojob {name!r}", e)) from None
                job = self.get(name)  # the version expired: start again from now
                version = job["metadata"]["resourceVersion"]
                yield job

    # ---- pods --------------------------------------------------------------------------------------------
    def pods(self, selector: str) -> list[Any]:
        return self.call("pods", self.core.list_namespaced_pod, self.namespace, label_selector=selector).items

    def log(self, pod: str, tail: int | None = None) -> str:
        return self.call(
            f"logs of pod {pod!r}",
            self.core.read_namespaced_pod_log,
            pod,
            self.namespace,
            container=api.WORKER_CONTAINER,
            tail_lines=tail,
        )

    def log_stream(self, pod: str, tail: int | None = None) -> Any:
        """The container's log as an open HTTP response that follows it until the container ends."""
        return self.call(
            f"logs of pod {pod!r}",
            self.core.read_namespaced_pod_log,
            pod,
            self.namespace,
            container=api.WORKER_CONTAINER,
            tail_lines=tail,
            follow=True,
            _preload_content=False,
            _request_timeout=(TIMEOUT[0], 86400.0),  # a quiet encoder may print nothing for long
        )


def _invalid(body: dict[str, Any]) -> str:
    """The first cause of a 422 Invalid, as `field: message` (the CRD's CEL messages are meant for people)."""
    causes = (body.get("details") or {}).get("causes") or []
    if not causes:
        return ""
    c = causes[0]
    return line(f"{c.get('field', '')}: {c.get('message', '')}".strip(": "))
