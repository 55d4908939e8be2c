#!/usr/bin/env bash
# The two images the test node needs besides ours, made from scratch with buildah (no registry is reachable):
# the pod sandbox (pause) and cluster DNS (CoreDNS), both static Go binaries built by build-controlplane.sh.
# Written as docker archives into $CACHE/images, which the node imports into its containerd.
set -euo pipefail
CACHE=${VIDEOJOB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/videojob}
ASSETS=${KUBEBUILDER_ASSETS:?run build-controlplane.sh --print-env first}
OUT="$CACHE/images"
mkdir -p "$OUT"

image() {  # name binary entrypoint user
  local name=$1 bin=$2 user=$3 ref="localhost/videojob-$1:test" archive="$OUT/$1.tar"
  local sum
  sum=$(sha256sum "$ASSETS/$bin" | cut -c1-16)
  if [ -f "$archive" ] && [ "$(cat "$archive.sum" 2>/dev/null)" = "$sum" ]; then return 0; fi
  echo "build-node-images: $ref" >&2
  local c
  c=$(buildah from scratch)
  buildah copy --quiet "$c" "$ASSETS/$bin" "/$bin" >/dev/null
  buildah config --entrypoint "[\"/$bin\"]" --user "$user" --label "videojob.dev/binary-sha256=$sum" "$c"
  buildah commit --quiet --rm "$c" "$ref" >/dev/null
  rm -f "$archive.tmp"
  buildah push --quiet "$ref" "docker-archive:$archive.tmp:$ref"
  mv "$archive.tmp" "$archive"
  echo "$sum" >"$archive.sum"
}

image pause pause 65535:65535
image coredns coredns 65534:65534
