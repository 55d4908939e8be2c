#!/usr/bin/env bash
# k3s with NVIDIA GPUs + videojob, on the node this runs on. Read README.md first; every step is there too.
#
#   sudo ./install.sh server [--nfs SERVER:/export] [--local-path]   first (or only) node
#   sudo ./install.sh agent  --server https://SERVER:6443 --token TOKEN  further GPU nodes
#   ./install.sh chart [helm values...]                              operator chart into namespace videojob
#
# Needs: the NVIDIA driver (nvidia-smi works) and the NVIDIA Container Toolkit (nvidia-container-runtime) on
# every GPU node *before* k3s starts, so k3s adds the `nvidia` runtime to its containerd config.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
K3S_VERSION=${K3S_VERSION:-v1.35.4+k3s1}
NFS_PROVISIONER_CHART_VERSION=${NFS_PROVISIONER_CHART_VERSION:-4.0.18}
NAMESPACE=${NAMESPACE:-videojob}
export KUBECONFIG=${KUBECONFIG:-/etc/rancher/k3s/k3s.yaml}

die() { echo "install.sh: $*" >&2; exit 1; }
log() { echo "install.sh: $*" >&2; }

check_gpu_node() {
  command -v nvidia-smi >/dev/null || die "no nvidia-smi: install the NVIDIA driver first"
  nvidia-smi -L >&2 || die "nvidia-smi cannot see a GPU"
  command -v nvidia-container-runtime >/dev/null ||
    die "no nvidia-container-runtime: install the NVIDIA Container Toolkit (README.md, step 1)"
}

install_k3s() {  # $1: server|agent, rest: k3s flags
  local role=$1; shift
  # The installer is k3s' own (pinned by INSTALL_K3S_VERSION); it verifies the binary's checksum.
  curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION="$K3S_VERSION" INSTALL_K3S_EXEC="$role" sh -s - "$@"
}

label_gpu_node() {
  local node
  node=$(hostname | tr '[:upper:]' '[:lower:]')
  kubectl label node "$node" videojob.dev/gpu=true --overwrite
}

server() {
  local nfs="" local_path=0
  while [ $# -gt 0 ]; do
    case $1 in
      --nfs) nfs=$2; shift 2 ;;
      --local-path) local_path=1; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  check_gpu_node
  install_k3s server --write-kubeconfig-mode 0644
  kubectl wait --for=condition=Ready node --all --timeout=180s
  grep -q 'nvidia' /var/lib/rancher/k3s/agent/etc/containerd/config.toml ||
    die "k3s did not register the nvidia runtime: is nvidia-container-runtime on PATH? (README.md, step 1)"
  label_gpu_node
  kubectl apply -f "$HERE/manifests/runtimeclass-nvidia.yaml"
  kubectl apply -f "$HERE/manifests/nvidia-device-plugin.yaml"
  kubectl apply -f "$HERE/manifests/namespace.yaml"
  if [ -n "$nfs" ]; then
    helm repo add nfs-subdir-external-provisioner https://kubernetes-sigs.github.io/nfs-subdir-external-provisioner/
    helm upgrade --install nfs-provisioner nfs-subdir-external-provisioner/nfs-subdir-external-provisioner \
      --version "$NFS_PROVISIONER_CHART_VERSION" -n kube-system \
      --set nfs.server="${nfs%%:*}" --set nfs.path="${nfs#*:}" --set storageClass.name=nfs-client
    kubectl -n "$NAMESPACE" apply -f "$HERE/manifests/pvc-nfs.yaml"
  elif [ "$local_path" = 1 ]; then
    kubectl -n "$NAMESPACE" apply -f "$HERE/manifests/pvc-local-path.yaml"
  fi
  log "waiting for the device plugin to advertise GPUs"
  for _ in $(seq 60); do
    gpus=$(kubectl get nodes -o jsonpath='{.items[*].status.allocatable.nvidia\.com/gpu}')
    [ -n "$gpus" ] && { log "allocatable nvidia.com/gpu: $gpus"; return 0; }
    sleep 5
  done
  die "no nvidia.com/gpu after 5 minutes: kubectl -n kube-system logs ds/nvidia-device-plugin"
}

agent() {
  local url="" token=""
  while [ $# -gt 0 ]; do
    case $1 in
      --server) url=$2; shift 2 ;;
      --token) token=$2; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [ -n "$url" ] && [ -n "$token" ] || die "agent needs --server URL --token TOKEN (server: /var/lib/rancher/k3s/server/node-token)"
  check_gpu_node
  K3S_URL=$url K3S_TOKEN=$token install_k3s agent
  log "on the server: kubectl label node $(hostname | tr '[:upper:]' '[:lower:]') videojob.dev/gpu=true"
}

chart() {
  kubectl apply -f "$HERE/manifests/namespace.yaml"
  helm upgrade --install videojob "$REPO/charts/videojob-operator" -n "$NAMESPACE" \
    --set clusterWide=false --set redis.enabled=true "$@"
  kubectl -n "$NAMESPACE" rollout status deployment/videojob-operator --timeout=180s
}

case ${1:-} in
  server) shift; server "$@" ;;
  agent) shift; agent "$@" ;;
  chart) shift; chart "$@" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
