#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the real S3-compatible server the object-storage tests run against) from the Go module
# proxy into a cache outside the repo, the same way tests/cluster/build-controlplane.sh builds the control plane.
#
#   tests/support/build-seaweedfs.sh              build it when missing
#   tests/support/build-seaweedfs.sh --print-env  the same, then print the `export VIDEOJOB_WEED=...` line
#
# VIDEOJOB_WEED naming an executable skips the build. The proxy lists only a pseudo-version of the module (no tagged
# release); it is pinned here, so every machine builds the same server.
set -euo pipefail

SEAWEEDFS_VERSION=${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
CACHE=${VIDEOJOB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/videojob}
OUT=$CACHE/seaweedfs/$SEAWEEDFS_VERSION
PRINT_ENV=0
[ "${1:-}" = "--print-env" ] && PRINT_ENV=1

log() { echo "build-seaweedfs: $*" >&2; }

export GOPATH=${GOPATH:-$CACHE/gopath}
export GOCACHE=${GOCACHE_VIDEOJOB:-$CACHE/go-build}
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
# The module asks for a newer Go than some machines have; never download a toolchain (no host but the proxy).
export GOTOOLCHAIN=local
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

build_weed() {
  local work="$CACHE/src/seaweedfs-$SEAWEEDFS_VERSION"
  mkdir -p "$work" "$OUT"
  # A throwaway module that requires seaweedfs and repeats its replace directives (a dependency's replaces do not
  # apply to the main module, and `go install pkg@version` refuses a module that has any).
  curl -fsSL "https://proxy.golang.org/github.com/seaweedfs/seaweedfs/@v/$SEAWEEDFS_VERSION.mod" -o "$work/seaweedfs.mod"
  local go_version
  go_version=$(awk '$1 == "go" {print $2; exit}' "$work/seaweedfs.mod")
  {
    echo "module videojob.dev/seaweedfs"
    echo
    echo "go $go_version"
    echo
    echo "require github.com/seaweedfs/seaweedfs $SEAWEEDFS_VERSION"
    echo
    grep -E '^replace [^ ]+ => [^ ]+ v[^ ]+$' "$work/seaweedfs.mod" || true
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
GO
  log "building weed $SEAWEEDFS_VERSION (several minutes the first time)"
  (
    cd "$work"
    "$GO" mod tidy -e >&2 || true
    "$GO" build -trimpath -ldflags "-s -w" -o "$OUT/weed.tmp" github.com/seaweedfs/seaweedfs/weed >&2
  )
  mv "$OUT/weed.tmp" "$OUT/weed"
}

if [ -n "${VIDEOJOB_WEED:-}" ] && [ -x "$VIDEOJOB_WEED" ]; then
  WEED=$VIDEOJOB_WEED
else
  WEED=$OUT/weed
  if [ ! -x "$WEED" ]; then
    start=$(date +%s)
    build_weed
    log "weed ready in $OUT ($(($(date +%s) - start)) s)"
  fi
fi
if [ "$PRINT_ENV" = 1 ]; then
  echo "export VIDEOJOB_WEED=$WEED"
fi
