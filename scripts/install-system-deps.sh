#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo use, only when missing.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v prometheus >/dev/null || need+=(prometheus)
command -v etcd >/dev/null || need+=(etcd-server)
# The test node (tests/cluster/node.py) and the image builds (scripts/build-images.sh): containerd with runc,
# CNI plugins, iptables for kube-proxy, socat for the API bridge, nsenter/unshare (util-linux), buildah and
# debootstrap for images without a registry.
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
command -v socat >/dev/null || need+=(socat)
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v nsenter >/dev/null || need+=(util-linux)
# Real camera footage for tests/pipeline/test_real_footage.py: OpenCV's sample clips (vtest.avi, tree.avi).
[ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] || need+=(opencv-doc)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps etcd/prometheus from pulling in services we never start
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
# Debian starts the daemons it installs; tests start their own on free ports.
for svc in redis-server prometheus etcd containerd; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
