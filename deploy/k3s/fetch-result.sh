#!/usr/bin/env bash
# Copy a finished job's output back:  ./fetch-result.sh street out/street-blurred.mp4 ./street-blurred.mp4
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NAMESPACE=${NAMESPACE:-videojob}
[ $# -eq 3 ] || { echo "usage: $0 VIDEOJOB PATH_ON_CLAIM LOCAL_FILE" >&2; exit 2; }
phase=$(kubectl -n "$NAMESPACE" get videojob "$1" -o jsonpath='{.status.phase}')
[ "$phase" = Succeeded ] || { echo "fetch-result.sh: videojob $1 is $phase, not Succeeded" >&2; exit 1; }
kubectl -n "$NAMESPACE" apply -f "$HERE/manifests/copy-pod.yaml"
kubectl -n "$NAMESPACE" wait --for=condition=Ready pod/videojob-copy --timeout=120s
kubectl -n "$NAMESPACE" cp "videojob-copy:/data/$2" "$3"
echo "$3: $(wc -c <"$3") bytes"
