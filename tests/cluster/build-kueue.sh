#!/usr/bin/env bash
# Builds Kueue's controller manager (sigs.k8s.io/kueue/cmd/kueue, $KUEUE_VERSION) from the Go module proxy into a cache
# outside the repo, the same way build-controlplane.sh builds the control plane, and copies the manifests the tests
# install next to it, from the same module's source: the CRDs (config/components/crd/bases), the manager's
# ClusterRole and Secrets Role (config/components/rbac) and its webhook configurations (config/components/webhook).
#
#   tests/cluster/build-kueue.sh              build what is missing
#   tests/cluster/build-kueue.sh --print-env  the same, then print the `export VIDEOJOB_KUEUE=...` line (the directory)
#
# v0.17.0 is built against k8s.io/* v0.35 (its go.mod), the control plane's minor (v1.35).
set -euo pipefail

KUEUE_VERSION=${KUEUE_VERSION:-v0.17.0}
CACHE=${VIDEOJOB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/videojob}
OUT=$CACHE/kueue/$KUEUE_VERSION
PRINT_ENV=0
[ "${1:-}" = "--print-env" ] && PRINT_ENV=1

log() { echo "build-kueue: $*" >&2; }

export GOPATH=${GOPATH:-$CACHE/gopath}
export GOCACHE=${GOCACHE_VIDEOJOB:-$CACHE/go-build}
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
export GOTOOLCHAIN=local # never download a toolchain (no host but the proxy)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

build_manager() {
  local work="$CACHE/src/kueue-$KUEUE_VERSION"
  mkdir -p "$work" "$OUT"
  # A throwaway module that requires kueue: `go install pkg@version` would do, but this keeps the build cache and
  # the go.sum in one place, like the other builds here. Kueue's go.mod has no replace directives to repeat.
  local go_version
  go_version=$(awk '$1 == "go" {print $2; exit}' "$MODDIR/go.mod")
  printf 'module videojob.dev/kueue\n\ngo %s\n\nrequire sigs.k8s.io/kueue %s\n' "$go_version" "$KUEUE_VERSION" \
    >"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "sigs.k8s.io/kueue/cmd/kueue"
GO
  log "building kueue $KUEUE_VERSION (several minutes the first time)"
  (
    cd "$work"
    "$GO" mod tidy -e >&2 || true
    "$GO" build -trimpath -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" \
      -o "$OUT/kueue.tmp" sigs.k8s.io/kueue/cmd/kueue >&2
  )
  mv "$OUT/kueue.tmp" "$OUT/kueue"
}

copy_manifests() {
  local tmp="$OUT/manifests.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp/crds"
  cp "$MODDIR"/config/components/crd/bases/*.yaml "$tmp/crds/"
  cp "$MODDIR/config/components/rbac/role.yaml" "$tmp/role.yaml"
  cp "$MODDIR/config/components/rbac/manager_secrets_role.yaml" "$tmp/secrets_role.yaml"
  cp "$MODDIR/config/components/webhook/manifests.yaml" "$tmp/webhooks.yaml"
  chmod -R u+w "$tmp" # the module cache is read-only
  rm -rf "$OUT/manifests"
  mv "$tmp" "$OUT/manifests"
}

if [ ! -x "$OUT/kueue" ] || [ ! -f "$OUT/manifests/secrets_role.yaml" ]; then
  start=$(date +%s)
  MODDIR=$(cd /tmp && "$GO" mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" |
    awk -F'"' '$2 == "Dir" {print $4}')
  [ -d "$MODDIR" ] || { log "go mod download sigs.k8s.io/kueue@$KUEUE_VERSION gave no source directory"; exit 1; }
  [ -x "$OUT/kueue" ] || build_manager
  copy_manifests
  log "kueue $KUEUE_VERSION ready in $OUT ($(($(date +%s) - start)) s)"
fi
if [ "$PRINT_ENV" = 1 ]; then
  echo "export VIDEOJOB_KUEUE=$OUT"
fi
