#!/usr/bin/env bash
# A Debian bookworm base image built locally (no Docker Hub): debootstrap minbase from the mirror apt uses here,
# with python3, python3-venv and ca-certificates, the host's CA bundle (so apt/pip in builds trust whatever the
# host trusts, e.g. a TLS-intercepting proxy), imported into containers/storage as localhost/videojob-base:bookworm.
#
#   scripts/make-base-image.sh            # skip when the image exists
#   scripts/make-base-image.sh --force    # rebuild it
#
# Env: VIDEOJOB_LOCAL_BASE (image name), VIDEOJOB_DEBIAN_MIRROR (default: the first bookworm mirror in
# /etc/apt/sources.list*). Needs root, debootstrap and podman (or buildah).
set -euo pipefail

IMAGE=${VIDEOJOB_LOCAL_BASE:-localhost/videojob-base:bookworm}
SUITE=bookworm
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "make-base-image: unknown argument $arg" >&2; exit 2 ;;
  esac
done

log() { echo "make-base-image: $*" >&2; }
die() { log "$*"; exit 1; }

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

if [[ $FORCE == 0 ]] && image_exists "$IMAGE"; then
  log "$IMAGE exists (--force rebuilds it)"
  exit 0
fi
[[ $(id -u) == 0 ]] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"
command -v buildah >/dev/null || die "buildah missing (apt-get install buildah)"

# The Debian mirror apt uses: deb822 .sources (URIs/Suites) or one-line sources.list entries.
mirror_from_apt() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END { if (uri != "" && ok) print uri }' "$f" | head -n1
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk -v suite="$SUITE" '$1 == "deb" { u = ($2 ~ /^\[/) ? 3 : 2; if ($(u + 1) == suite) { print $u; exit } }' "$f"
  done
}
MIRROR=${VIDEOJOB_DEBIAN_MIRROR:-$(mirror_from_apt | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
MIRROR=${MIRROR%/}

TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/videojob-base.XXXXXX")
cleanup() { rm -rf --one-file-system "$TMP"; }
trap cleanup EXIT
ROOT=$TMP/rootfs

log "debootstrap --variant=minbase $SUITE from $MIRROR (about a minute)"
started=$SECONDS
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$SUITE" "$ROOT" "$MIRROR" >"$TMP/debootstrap.log" 2>&1 || {
  tail -n 20 "$TMP/debootstrap.log" >&2
  die "debootstrap failed"
}
log "debootstrap done in $((SECONDS - started)) s"

# apt inside builds: the same mirror for the suite, its updates and security (security from the host's entry
# when it has one), the host's valid-until leniency (snapshot mirrors), no service starts, no recommends.
SECURITY=$(grep -rhE '^[[:space:]]*(URIs:|deb[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
  grep -oE 'https?://[^ ]*debian-security' | head -n1 || true)
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
rm -f "$ROOT/etc/apt/sources.list"
cat >"$ROOT/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
if apt-config dump 2>/dev/null | grep -q '^Acquire::Check-Valid-Until "false"'; then
  echo 'Acquire::Check-Valid-Until "false";' >"$ROOT/etc/apt/apt.conf.d/90videojob-valid-until"
fi
# As Debian's own container images: no .deb or package-cache files left in layers after apt runs.
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$ROOT/etc/apt/apt.conf.d/90videojob-norecommends"
printf '#!/bin/sh\n# no services start inside image builds\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"

# The host's CA bundle: as the bundle itself, and as a local CA file so that update-ca-certificates (run by any
# later ca-certificates upgrade) keeps it. pip reads the system bundle through /etc/pip.conf.
if [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/local/share/ca-certificates/host-ca-bundle.crt"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
fi
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOT/etc/pip.conf"

# Slim the rootfs: package caches, indexes, docs, logs.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/lib/apt/lists/* \
  "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/var/log/* \
  "$ROOT"/tmp/* "$ROOT"/var/tmp/* "$ROOT"/debootstrap
: >"$ROOT/etc/machine-id"
echo "videojob" >"$ROOT/etc/hostname"

old=$(buildah inspect --type image --format '{{.FromImageID}}' "$IMAGE" 2>/dev/null || true)
log "importing $IMAGE"
changes=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change 'ENV LANG=C.UTF-8'
  --change 'CMD ["/bin/bash"]'
)
if command -v podman >/dev/null; then
  tar -C "$ROOT" --numeric-owner -cf - . | podman import --quiet "${changes[@]}" \
    --message "debootstrap --variant=minbase $SUITE from $MIRROR" - "$IMAGE" >/dev/null
else
  tar -C "$ROOT" --numeric-owner -cf "$TMP/rootfs.tar" .
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$TMP/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --cmd /bin/bash "$ctr"
  buildah commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
fi
new=$(buildah inspect --type image --format '{{.FromImageID}}' "$IMAGE")
if [[ -n $old && $old != "$new" ]]; then
  buildah rmi "$old" >/dev/null 2>&1 || log "the previous $IMAGE ($old) is still used; left in place"
fi
log "$IMAGE ready ($(buildah images --format '{{.Size}}' "$IMAGE" | head -n1), $((SECONDS - started)) s in all)"
