"""The VideoJob's Secret with the Redis URL for its segment pods. Pure function, no API calls."""

from __future__ import annotations

from typing import Any

from .. import api
from ..naming import labels, secret_name
from .context import ChildContext


def build_progress_secret(ctx: ChildContext) -> dict[str, Any]:
    """`<job>-progress` in the VideoJob's namespace, owned by the VideoJob (the garbage collector removes it).

    Always made when the job has a Redis URL, password or not: a URL can hide credentials in more places than
    the userinfo (`?password=`), and one way for every URL keeps the pods alike. Immutable: the URL is fixed when
    the segment Job is made, as it was when it lived in the Job's pod template.
    """
    if not ctx.redis_url:
        raise ValueError("a progress Secret needs a Redis URL")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(ctx.name),
            "namespace": ctx.namespace,
            "labels": labels(ctx.name, "progress"),
            "ownerReferences": [ctx.owner_reference()],
        },
        "type": "Opaque",
        "immutable": True,
        "stringData": {api.REDIS_URL_KEY: ctx.redis_url},
    }
