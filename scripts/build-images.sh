#!/usr/bin/env bash
# Build the images with buildah (no Docker daemon), tag them localhost/..., and export each to a docker-archive
# that `ctr -n k8s.io images import` (or `k3s ctr images import`) loads:
#
#   operator     localhost/videojob-operator:VERSION      Dockerfile.operator
#   worker-slim  localhost/videojob-worker:VERSION-slim   Dockerfile.worker, FLAVOUR=slim (no torch)
#   worker       localhost/videojob-worker:VERSION        Dockerfile.worker, FLAVOUR=full (torch, ~6.5 GB)
#   redis        localhost/videojob-redis:test            Debian's redis-server on the local base (tests only)
#
# VERSION is pyproject.toml's. An image whose inputs (its Dockerfile, .dockerignore, the files it COPYs, the
# base image and build args) did not change since its last build is not rebuilt: their hash is the image's
# io.videojob.inputs label, and the archive's stamp (NAME.tar.inputs).
#
#   scripts/build-images.sh [--only operator,worker-slim,worker,redis] [--base upstream|local|IMAGE]
#                           [--cache-dir DIR] [--no-archive] [--force] [--no-cache] [--verbose]
#
#   --only       a comma-separated subset (default: all four)
#   --base       upstream: the Dockerfiles' defaults (nvidia/cuda, python slim; needs their registries);
#                local: localhost/videojob-base:bookworm, made by scripts/make-base-image.sh when missing;
#                IMAGE: any Debian/Ubuntu image with python3 >= 3.11 (or apt to install it), for both.
#                Default: $VIDEOJOB_BASE_IMAGE, else upstream. The redis image always uses the local base.
#   --cache-dir  where the archives go (default: $VIDEOJOB_IMAGE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/videojob/images)
#   --no-archive build and tag only
#   --force      rebuild even when the inputs did not change (with buildah's layer cache)
#   --no-cache   rebuild every layer (implies --force)
#   --verbose    stream buildah's output (otherwise it goes to CACHE/logs/NAME.log)
#
# RUN steps share the host's network (chroot isolation, --network host): no bridge, no firewall rules.
set -euo pipefail
# One compound command: bash parses it all before running any of it, so editing this file cannot derail a build
# in progress.
{

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

ALL=(operator worker-slim worker redis)
ONLY=""
BASE=${VIDEOJOB_BASE_IMAGE:-upstream}
CACHE=${VIDEOJOB_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/videojob/images}
ARCHIVE=1
FORCE=0
NO_CACHE=()
VERBOSE=0
LOCAL_BASE=${VIDEOJOB_LOCAL_BASE:-localhost/videojob-base:bookworm}
ISOLATION=${VIDEOJOB_BUILDAH_ISOLATION:-chroot}

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
log() { echo "build-images: $*" >&2; }
die() {
  log "$*"
  exit 1
}

while (($#)); do
  case "$1" in
    --only) ONLY=${2:?--only needs a list}; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --base) BASE=${2:?--base needs upstream, local or an image}; shift ;;
    --base=*) BASE=${1#*=} ;;
    --cache-dir) CACHE=${2:?--cache-dir needs a directory}; shift ;;
    --cache-dir=*) CACHE=${1#*=} ;;
    --no-archive) ARCHIVE=0 ;;
    --force) FORCE=1 ;;
    --no-cache) FORCE=1 NO_CACHE=(--no-cache) ;;
    --verbose) VERBOSE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
  shift
done

WANT=()
IFS=, read -r -a WANT <<<"${ONLY:-$(IFS=,; echo "${ALL[*]}")}"
for name in "${WANT[@]}"; do
  [[ " ${ALL[*]} " == *" $name "* ]] || die "unknown image '$name' (one of: ${ALL[*]})"
done

command -v buildah >/dev/null || die "buildah missing (apt-get install buildah)"
# One build at a time per machine: two would race on the same tags and archives.
mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock -n 9 || { log "waiting for another build-images.sh to finish"; flock 9; }
VERSION=$(python3 -I -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
  pyproject.toml)
mkdir -p "$CACHE/logs"

needs_local_base=0
[[ $BASE == local ]] && needs_local_base=1
[[ " ${WANT[*]} " == *" redis "* ]] && needs_local_base=1
if ((needs_local_base)); then
  "$REPO/scripts/make-base-image.sh"
fi
case "$BASE" in
  upstream) BASE_IMAGE="" ;;
  local) BASE_IMAGE=$LOCAL_BASE ;;
  *) BASE_IMAGE=$BASE ;;
esac

# Without CAP_SYS_RESOURCE the RUN steps cannot get buildah's default open-files limit (1048576), and its 1024
# fallback is tight for pip: ask for this shell's hard limit. (nproc: buildah's 32768 is under it already.)
nofile=$(ulimit -H -n)
[[ $nofile == unlimited ]] && nofile=1048576
ULIMITS=(--ulimit "nofile=$nofile:$nofile")

label_of() { buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true; }

# What a build reads: the Dockerfile, .dockerignore, every file its COPY lines take from the context (less what
# .dockerignore drops), the build args and the base image.
inputs_hash() {
  local dockerfile=$1 base=$2
  shift 2
  local -a srcs
  mapfile -t srcs < <(awk 'toupper($1) == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i }' \
    "$dockerfile" | sed 's:/*$::' | sort -u)
  {
    echo "args: $*"
    # A local base is rebuilt in place (its ID says when); a registry's is named by its reference.
    if [[ $base == localhost/* ]]; then echo "base: $base $(image_id "$base")"; else echo "base: $base"; fi
    echo "dockerfile: $(sha256sum <"$dockerfile")"
    [[ -f .dockerignore ]] && echo ".dockerignore: $(sha256sum <.dockerignore)"
    if ((${#srcs[@]})); then
      find "${srcs[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum
    fi
  } | sha256sum | cut -d' ' -f1
}

# build NAME TAG DOCKERFILE CONTEXT [--build-arg K=V]...
build() {
  local name=$1 tag=$2 dockerfile=$3 context=$4
  shift 4
  local args=("$@") base_arg=()
  [[ -n $BASE_IMAGE && $name != redis ]] && base_arg=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  [[ $name == redis ]] && base_arg=(--build-arg "BASE_IMAGE=$LOCAL_BASE")
  local base=${base_arg[1]:-}
  base=${base#BASE_IMAGE=}
  [[ -z $base ]] && base=$(sed -n 's/^ARG BASE_IMAGE=//p' "$dockerfile" | head -n1)
  local hash logf=$CACHE/logs/$name.log
  hash=$(cd "$context" && inputs_hash "$dockerfile" "$base" "${args[@]}")

  if ((!FORCE)) && [[ $(label_of "$tag" io.videojob.inputs) == "$hash" ]]; then
    log "$name: $tag is up to date (inputs ${hash:0:12})"
  else
    log "$name: building $tag from $base (log: $logf)"
    local started=$SECONDS previous
    previous=$(image_id "$tag")
    # Room first: the outdated archive goes now (the full worker's is 6 GB, and a build's peak is twice its venv);
    # the outdated image after the build, which may reuse its layers.
    rm -f "$CACHE/videojob-$name.tar" "$CACHE/videojob-$name.tar.inputs"
    # --force-rm: a failed build leaves no working container (the full worker's holds a 6 GB copy of its venv)
    local cmd=(buildah bud --layers --force-rm "${NO_CACHE[@]}" --isolation "$ISOLATION" --network host "${ULIMITS[@]}"
      -f "$dockerfile" -t "$tag" --label "io.videojob.inputs=$hash" --label "io.videojob.base=$base"
      "${base_arg[@]}" "${args[@]}" "$context")
    if ((VERBOSE)); then
      "${cmd[@]}" 2>&1 | tee "$logf" || die "$name: build failed (log: $logf)"
    else
      "${cmd[@]}" >"$logf" 2>&1 || {
        tail -n 30 "$logf" >&2
        die "$name: build failed (log: $logf)"
      }
    fi
    log "$name: built $tag in $((SECONDS - started)) s, $(buildah images --format '{{.Size}}' "$tag" | head -n1)"
    # The image this tag named before (now untagged) and its build layers: the full worker's are 6 GB a build.
    if [[ -n $previous && $previous != "$(image_id "$tag")" ]] &&
      [[ -z $(buildah inspect --type image --format '{{.FromImage}}' "$previous" 2>/dev/null) ]]; then
      buildah rmi "$previous" >/dev/null 2>&1 || true
    fi
  fi

  ((ARCHIVE)) || return 0
  local archive=$CACHE/videojob-$name.tar
  local stamp
  stamp="$hash $(image_id "$tag") $tag"
  if ((!FORCE)) && [[ -f $archive && -f $archive.inputs && $(cat "$archive.inputs") == "$stamp" ]]; then
    log "$name: $archive is up to date"
    return 0
  fi
  local started=$SECONDS
  rm -f "$archive" "$archive.inputs" "$archive.tmp"
  buildah push --quiet "$tag" "docker-archive:$archive.tmp:$tag" >/dev/null
  mv "$archive.tmp" "$archive"
  echo "$stamp" >"$archive.inputs"
  log "$name: exported $archive ($(du -h "$archive" | cut -f1), $((SECONDS - started)) s)"
}

# The test-only Redis: Debian's redis-server, uid/gid 999 (the chart's runAsUser), cwd /data (the chart's
# emptyDir), sh and redis-cli for the chart's command and readiness probe. Generated here (one file less).
redis_context() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/videojob-redis.XXXXXX")
  cat >"$dir/Containerfile" <<'EOF'
# Test-only Redis for the chart (redis.image=localhost/videojob-redis:test): Debian's redis-server on a local base.
ARG BASE_IMAGE=localhost/videojob-base:bookworm
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# The redis user first, with the chart's uid/gid; the package's postinst keeps it.
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/redis --no-create-home --shell /usr/sbin/nologin redis \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \
 && mkdir -p /data \
 && chown 999:999 /data \
 && redis-server --version
WORKDIR /data
USER 999:999
EXPOSE 6379
ENTRYPOINT ["redis-server"]
CMD ["--save", "", "--appendonly", "no", "--protected-mode", "no"]
EOF
  echo "$dir"
}

main() {
  local total=$SECONDS ctx=""
  trap 'rm -rf "${ctx:-}"' EXIT
  for name in "${WANT[@]}"; do
    case "$name" in
      operator) build operator "localhost/videojob-operator:$VERSION" "$REPO/Dockerfile.operator" "$REPO" ;;
      worker-slim)
        build worker-slim "localhost/videojob-worker:$VERSION-slim" "$REPO/Dockerfile.worker" "$REPO" \
          --build-arg FLAVOUR=slim
        ;;
      worker)
        build worker "localhost/videojob-worker:$VERSION" "$REPO/Dockerfile.worker" "$REPO" --build-arg FLAVOUR=full
        ;;
      redis)
        ctx=$(redis_context)
        build redis localhost/videojob-redis:test "$ctx/Containerfile" "$ctx"
        rm -rf "$ctx"
        ;;
    esac
  done
  prune_older_layers
  if ((ARCHIVE)); then log "done in $((SECONDS - total)) s; archives in $CACHE"; else log "done in $((SECONDS - total)) s"; fi
}

# Untagged images (build stages, cached layers) made before this run: this run's builds made their own cache, and
# an old full-worker builder stage is 6 GB. Without this the disk fills after a few source changes.
prune_older_layers() {
  local id created freed=0
  while read -r id created; do
    [[ -n $id && $created -lt $RUN_STARTED ]] || continue
    buildah rmi "$id" >/dev/null 2>&1 && freed=$((freed + 1))
  done < <(buildah images --filter dangling=true --format '{{.ID}} {{.Created}}' 2>/dev/null)
  ((freed == 0)) || log "removed $freed untagged image(s) of earlier builds"
}

RUN_STARTED=$(date +%s)

main
exit
}
