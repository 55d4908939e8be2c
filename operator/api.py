"""The VideoJob API: group, version and names; the spec and status models live in spec.py and status.py."""

from __future__ import annotations

GROUP = "videojob.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "VideoJob"
PLURAL = "videojobs"
SINGULAR = "videojob"
SHORT_NAMES = ["vj"]
CATEGORIES = ["videojob", "all"]

# Where the worker containers see the volumes (builders mount the claims here).
DATA_MOUNT = "/videojob/data"  # input and output share one claim
INPUT_MOUNT = "/videojob/input"  # read-only, when the output lives on another claim
OUTPUT_MOUNT = "/videojob/output"
SCRATCH_MOUNT = "/tmp"
TERMINATION_LOG = "/dev/termination-log"
WORKER_CONTAINER = "worker"
# The per-VideoJob Secret that hands segment pods the Redis URL (it may carry a password): its one key.
REDIS_URL_KEY = "redis-url"

# Worker exit code for bad input (contracts.md): the Job fails that index at once instead of retrying.
EXIT_BAD_INPUT = 2
EXIT_TRANSIENT = 75
