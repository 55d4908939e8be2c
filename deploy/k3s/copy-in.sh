#!/usr/bin/env bash
# Copy a local file onto the claim `media` through the helper pod:  ./copy-in.sh street.mp4 in/street.mp4
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NAMESPACE=${NAMESPACE:-videojob}
[ $# -eq 2 ] || { echo "usage: $0 LOCAL_FILE PATH_ON_CLAIM" >&2; exit 2; }
[ -f "$1" ] || { echo "copy-in.sh: no such file: $1" >&2; exit 1; }
kubectl -n "$NAMESPACE" apply -f "$HERE/manifests/copy-pod.yaml"
kubectl -n "$NAMESPACE" wait --for=condition=Ready pod/videojob-copy --timeout=120s
kubectl -n "$NAMESPACE" exec videojob-copy -- mkdir -p "/data/$(dirname "$2")"
kubectl -n "$NAMESPACE" cp "$1" "videojob-copy:/data/$2"
echo "copied $1 to claim media:$2"
