# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export PYTHONSAFEPATH := 1
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR ?= $(CURDIR)/.cache/ultralytics
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: all venv system-deps demo test lint controlplane s3server crds chart clean images test-images

all: test

system-deps:
	@scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel setuptools
	$(PIP) install -q -e '.[detect,operator,dev]'
	# ultralytics depends on the GUI opencv-python; end with the headless build only.
	$(PIP) uninstall -q -y opencv-python opencv-contrib-python || true
	$(PIP) install -q --force-reinstall --no-deps "$$(grep -o 'opencv-python-headless==[0-9.]*' pyproject.toml)"
	# Fail here, not in a test, if anything pulled the GUI build back in.
	$(PY) -c "import importlib.metadata as m, cv2, av, torch, ultralytics, kopf; gui = {d.metadata['Name'].lower() for d in m.distributions()} & {'opencv-python', 'opencv-contrib-python'}; assert not gui, f'GUI OpenCV installed: {gui}'"
	touch $(STAMP)

venv: $(STAMP)

controlplane: system-deps
	@tests/cluster/build-controlplane.sh
	@tests/cluster/build-kueue.sh

# SeaweedFS's `weed`, the real S3 server of the object-storage tests, built from the Go module proxy into the cache.
s3server: system-deps
	@tests/support/build-seaweedfs.sh

demo: system-deps venv
	mkdir -p out
	$(VENV)/bin/videojob demo --output out/demo.mp4

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy pipeline operator worker cli common

# What the test node runs: our images on the local Debian base (no registry is reachable from CI), and the
# pause and CoreDNS images from binaries built with the control plane. Each is rebuilt only when its inputs change.
test-images: system-deps controlplane
	scripts/build-images.sh --base local
	source <(tests/cluster/build-controlplane.sh --print-env) && tests/cluster/build-node-images.sh

test: system-deps venv controlplane s3server test-images
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy pipeline operator worker cli common
	source <(tests/cluster/build-controlplane.sh --print-env) && source <(tests/support/build-seaweedfs.sh --print-env) && \
	  $(VENV)/bin/pytest

# Container images with buildah, exported to ~/.cache/videojob/images/*.tar (scripts/build-images.sh --help):
#   make images [IMAGES=operator,worker-slim,worker,redis] [BASE=upstream|local|IMAGE]
images:
	scripts/build-images.sh $(if $(IMAGES),--only $(IMAGES)) $(if $(BASE),--base $(BASE))

crds: venv
	$(PY) -m videojob.operator.crdgen --write

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out
