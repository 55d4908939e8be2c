"""A real redis-server on the test node (its network namespace, outside any pod), for tests whose pods and
operator report or read progress: they use `url` (API_IP, the node's address), the test `local_url` (the host's
loopback, bridged over a Unix socket)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redis_server import RedisServer, serve

from . import procs
from .fixtures import KubeCluster
from .node import API_IP


def _node_redis(kube: KubeCluster, tmp_path: Path, password: str | None) -> Iterator[RedisServer]:
    """A real redis-server on the test node (its network namespace, outside any pod): pods and the operator use
    `url` (API_IP), the test `local_url` (the host's loopback, bridged)."""
    port = procs.free_port()
    kube.node.expose_node_port(port)  # bridged before it starts: start() pings it through the bridge
    yield from serve(tmp_path, password, port, wrap=kube.node.enter_net([]), bind="0.0.0.0", advertise=API_IP)


@pytest.fixture
def node_redis(kube: KubeCluster, tmp_path: Path) -> Iterator[RedisServer]:
    yield from _node_redis(kube, tmp_path, None)


@pytest.fixture
def secured_node_redis(kube: KubeCluster, tmp_path: Path) -> Iterator[RedisServer]:
    yield from _node_redis(kube, tmp_path, "pw-" + os.urandom(6).hex())
