"""The two Dockerfiles and the image scripts, checked without a container engine: parsed with BuildKit's own
parser (the `dockerfile` package), their requirement steps run outside the image, and the test Redis image
compared with what the chart runs. (scripts/build-images.sh builds them for real with buildah.)"""

from __future__ import annotations

import importlib.metadata as md
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import dockerfile
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
HEAVY = ("av", "cv2", "torch", "torchvision", "ultralytics", "numpy")
TORCH = ("torch", "torchvision", "ultralytics")
DOCKERFILES = ["Dockerfile.worker", "Dockerfile.operator"]


def parse(name: str) -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(REPO / name)))


def stages(cmds: list[dockerfile.Command]) -> list[list[dockerfile.Command]]:
    out: list[list[dockerfile.Command]] = []
    for cmd in cmds:
        if cmd.cmd.upper() == "FROM":
            out.append([])
        if out:
            out[-1].append(cmd)
    return out


def arg_defaults(cmds: list[dockerfile.Command]) -> dict[str, str]:
    return dict(c.value[0].split("=", 1) for c in cmds if c.cmd.upper() == "ARG" and "=" in c.value[0])


def base_images(cmds: list[dockerfile.Command]) -> list[str]:
    args = arg_defaults(cmds)
    names = {c.value[2].lower() for c in cmds if c.cmd.upper() == "FROM" and len(c.value) == 3}
    images = []
    for cmd in cmds:
        if cmd.cmd.upper() == "FROM":
            ref = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], cmd.value[0])
            if ref.lower() not in names:
                images.append(ref)
    return images


def env_of(stage: list[dockerfile.Command]) -> dict[str, str]:
    env: dict[str, str] = {}
    for c in stage:
        if c.cmd.upper() == "ENV":
            env.update(dict(zip(c.value[::2], c.value[1::2], strict=True)))
    return env


def runs(stage: list[dockerfile.Command]) -> list[str]:
    return [" ".join(c.value) for c in stage if c.cmd.upper() == "RUN"]


def pin(requirement_group: list[str], name: str) -> str:
    for raw in requirement_group:
        req = Requirement(raw)
        if canonicalize_name(req.name) == canonicalize_name(name):
            return str(req.specifier)
    raise AssertionError(f"{name} not in {requirement_group}")


def requirements_step(name: str, output: str) -> tuple[str, list[str]]:
    """The builder's `python3 -c '...' [ARGS] > OUTPUT` step: its program and arguments."""
    (line,) = [r for r in runs(stages(parse(name))[0]) if r.rstrip().endswith(f"> {output}")]
    words = shlex.split(line)
    assert words[:2] == ["python3", "-c"], words
    return words[2], words[3 : words.index(">")]


def run_requirements(name: str, output: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a requirements step outside the image, on this checkout's pyproject.toml (the image's /src copy)."""
    program, _ = requirements_step(name, output)
    program = program.replace("/src/pyproject.toml", str(REPO / "pyproject.toml"))
    return subprocess.run([sys.executable, "-c", program, *args], cwd="/", capture_output=True, text=True)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_images_pinned_multistage_nonroot(name: str) -> None:
    cmds = parse(name)
    images = base_images(cmds)
    assert images, "no FROM"
    for ref in images:
        # Fully qualified: buildah and podman resolve no short names without a search registry configured.
        assert re.match(r"^[a-z0-9.-]+\.[a-z]+/", ref), f"{ref}: not a fully qualified image name"
        repo, _, tag = ref.rpartition(":")
        assert repo and "/" not in tag, f"{ref}: base image without a tag"
        assert tag != "latest" and "latest" not in tag, ref
        # A full version (x.y.z), not a floating major/minor tag.
        assert re.match(r"^\d+\.\d+\.\d+-", tag), f"{ref}: tag is not a full x.y.z version"
    # One base for every stage, a build argument: the venv's interpreter is the runtime's, whichever base
    # (the upstream default, or a local Debian one from scripts/make-base-image.sh).
    froms = [c.value[0] for c in cmds if c.cmd.upper() == "FROM"]
    assert set(froms) == {"${BASE_IMAGE}"}, froms
    assert "BASE_IMAGE" in arg_defaults(cmds)
    parts = stages(cmds)
    assert len(parts) >= 2, "multi-stage: build tools and caches stay in the builder"
    final = parts[-1]
    users = [c.value[0] for c in final if c.cmd.upper() == "USER"]
    # Numeric uid:gid, so that runAsNonRoot can verify it without /etc/passwd.
    assert users and users[-1] == "10001:10001", users
    # readOnlyRootFilesystem: everything written goes to /tmp (an emptyDir).
    env = env_of(final)
    assert env["HOME"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert [c.value[0] for c in final if c.cmd.upper() == "WORKDIR"][-1] == "/tmp"
    # Nothing is fetched from a package index in the final stage (apt only for python3 itself): pip only installs
    # the builder's wheel of the project, --no-index.
    for line in runs(final):
        assert not re.search(r"\b(curl|wget)\b", line), line
        for pip in re.findall(r"\bpip install[^&;|]*", line):
            assert "--no-index" in pip and "--no-deps" in pip and "/dist/" in pip, pip
    # Only the built venv, and the project's wheel where the builder makes one, cross from the builder: the venv
    # first, so that a code change (a new wheel) leaves its layer cached.
    copies = [c for c in final if c.cmd.upper() == "COPY"]
    assert [c.value for c in copies] in ([("/opt/venv", "/opt/venv")], [("/opt/venv", "/opt/venv"), ("/dist", "/dist")])
    assert {c.flags for c in copies} == {("--from=builder",)}


@pytest.mark.parametrize("name", DOCKERFILES)
def test_buildah_and_a_plain_debian_base_can_build_it(name: str) -> None:
    """No heredocs (Debian's buildah 1.28 rejects them); python3, never `python`, until the venv is on PATH (a
    Debian base has no `python`); python3 and its venv module from apt only where the base lacks them."""
    cmds = parse(name)
    assert not [c.original for c in cmds if c.heredocs], "heredocs: buildah 1.28 cannot build this"
    assert not (REPO / name).read_text().startswith("# syntax="), "a frontend image BuildKit would pull"
    for stage in stages(cmds):
        venv_on_path = False
        for c in stage:
            if c.cmd.upper() == "ENV" and env_of([c]).get("PATH", "").startswith("/opt/venv/bin:"):
                venv_on_path = True
            if c.cmd.upper() == "RUN" and not venv_on_path:
                assert not re.search(r"(^|[;&|{(]\s*)python\s", " ".join(c.value)), c.original
    builder, final = stages(cmds)[0], stages(cmds)[-1]
    first = runs(builder)[0]
    assert 'python3 -c "import ensurepip, venv"' in first and "apt-get install" in first, first
    assert "python3 -m venv /opt/venv" in first
    assert "command -v python3" in runs(final)[0] and "apt-get install" in runs(final)[0]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_builder_never_has_the_sources_on_sys_path(name: str) -> None:
    """The top-level `operator` directory shadows the standard library's `operator` on sys.path (`import av`
    segfaulted, kopf could not import `or_`): PYTHONSAFEPATH before the first RUN, sources copied under /src,
    every command run from / (never from the source directory)."""
    builder = stages(parse(name))[0]
    first_run = next(i for i, c in enumerate(builder) if c.cmd.upper() == "RUN")
    assert env_of(builder[:first_run])["PYTHONSAFEPATH"] == "1"
    assert env_of(stages(parse(name))[-1])["PYTHONSAFEPATH"] == "1"
    workdirs = [c.value[0] for c in builder if c.cmd.upper() == "WORKDIR"]
    assert workdirs == ["/"], workdirs
    for c in builder:
        if c.cmd.upper() == "COPY" and not c.flags:
            assert c.value[-1].startswith("/src/"), c.original
        if c.cmd.upper() == "RUN":
            assert not re.search(r"\bcd\s+/src\b", " ".join(c.value)), c.original


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dependencies_install_before_the_sources_arrive(name: str) -> None:
    """A code change rebuilds from the first source COPY on: the pip step that downloads the dependencies
    (torch in the full worker) comes before it and reads only pyproject.toml; pip's cache is a cache mount."""
    builder = stages(parse(name))[0]
    copies = [i for i, c in enumerate(builder) if c.cmd.upper() == "COPY"]
    assert builder[copies[0]].value == ("pyproject.toml", "/src/")
    deps = [i for i, c in enumerate(builder) if c.cmd.upper() == "RUN" and "pip install --no-compile -r" in c.value[0]]
    assert len(deps) == 1 and copies[0] < deps[0] < copies[1], (copies, deps)
    for c in builder:
        if c.cmd.upper() == "RUN" and re.search(r"\bpip install\b", c.value[0]):
            assert "--mount=type=cache,target=/var/cache/pip" in c.flags, c.original
    assert env_of(builder)["PIP_CACHE_DIR"] == "/var/cache/pip"
    assert "PIP_NO_CACHE_DIR" not in env_of(builder)


def test_worker_entrypoint_env_and_pins_match_pyproject() -> None:
    cmds = parse("Dockerfile.worker")
    final = stages(cmds)[-1]
    entry = [c for c in final if c.cmd.upper() == "ENTRYPOINT"]
    assert entry and entry[-1].json and list(entry[-1].value) == ["python", "-m", "videojob.worker"]
    env = env_of(final)
    assert env["YOLO_OFFLINE"] == "1"  # models by path only, never a hub download
    assert env["YOLO_CONFIG_DIR"].startswith("/tmp/") and env["MPLCONFIGDIR"].startswith("/tmp/")
    assert "video" in env["NVIDIA_DRIVER_CAPABILITIES"].split(",")  # NVENC/NVDEC libraries from the driver
    assert env["PATH"].startswith("/opt/venv/bin:")

    # The builder's requirements step, run here for each flavour: pyproject's dependencies, the detect extra
    # (torch, torchvision, ultralytics) in the full worker only, and the operator extra's redis pin.
    _, args = requirements_step("Dockerfile.worker", "/tmp/worker-requirements.txt")
    assert args == ["$FLAVOUR"]
    assert arg_defaults(stages(cmds)[0])["FLAVOUR"] == "full"
    redis = f"redis{pin(PYPROJECT['optional-dependencies']['operator'], 'redis')}"
    extras = PYPROJECT["optional-dependencies"]
    wanted = {
        "full": [*PYPROJECT["dependencies"], *extras["detect"], redis],
        "slim": [*PYPROJECT["dependencies"], redis],
    }
    for flavour, expected in wanted.items():
        out = run_requirements("Dockerfile.worker", "/tmp/worker-requirements.txt", flavour)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == expected, flavour
    slim = {canonicalize_name(Requirement(r).name) for r in wanted["slim"]}
    assert not slim & {canonicalize_name(t) for t in TORCH}
    bad = run_requirements("Dockerfile.worker", "/tmp/worker-requirements.txt", "fat")
    assert bad.returncode != 0, "an unknown FLAVOUR must fail the build"

    # Headless OpenCV last (ultralytics pulls the GUI build): the RUN line's own grep, run on pyproject.toml.
    steps = " ".join(runs(stages(cmds)[0]))
    picked = []
    for expr in re.findall(r"\$\((grep -o '[^']+' /src/pyproject.toml)\)", steps):
        out = subprocess.run(
            ["bash", "-c", expr.replace("/src/", "")], cwd=REPO, capture_output=True, text=True, check=True
        )
        picked.append(out.stdout.strip())
    assert picked == [f"opencv-python-headless{pin(PYPROJECT['dependencies'], 'opencv-python-headless')}"]
    assert "pip uninstall -y opencv-python opencv-contrib-python" in steps
    # The image checks what it holds: torch in the full flavour, no torch at all in the slim one.
    checks = " ".join(runs(stages(cmds)[-1]))
    assert 'python -c "import torch, torchvision, ultralytics"' in checks
    assert "assert not u.find_spec('torch')" in checks


def test_a_code_change_leaves_the_worker_venv_layer_alone() -> None:
    """The full worker's venv is 6 GB: the builder installs the project as a wheel outside it (/dist), so the
    runtime stage's copy of the venv keeps its content digest across code changes and stays a cached layer."""
    builder = stages(parse("Dockerfile.worker"))[0]
    first_source = next(i for i, c in enumerate(builder) if c.cmd.upper() == "COPY" and c.value[0] != "pyproject.toml")
    after = runs(builder[first_source:])
    assert after and all("/opt/venv" not in line for line in after), after
    assert any("pip wheel --no-deps --wheel-dir /dist /src" in line for line in after), after


def test_slim_worker_runs_static_and_template_without_torch(tmp_path: Path) -> None:
    """What the slim image runs, with torch, torchvision and ultralytics made unimportable: the worker's entry
    point, and the static and template detectors with the CPU (OpenCV) operation path."""
    import cv2
    import numpy as np

    template = tmp_path / "logo.png"
    logo = np.zeros((16, 16, 3), np.uint8)
    logo[4:12, 4:12] = (255, 255, 255)
    cv2.imwrite(str(template), logo)
    script = f"""
import sys
for name in {list(TORCH)!r}:
    sys.modules[name] = None
import videojob.worker.__main__, videojob.worker.stages, videojob.pipeline.stages
from videojob.pipeline.config import OperationConfig
from videojob.pipeline.detect import DetectorConfig, NormRegion, make_detector
from videojob.pipeline.gpu.device import batched_device
make_detector(DetectorConfig(kind="static", regions=[NormRegion(x=0.1, y=0.1, w=0.2, h=0.2)]))
make_detector(DetectorConfig(kind="template", template={str(template)!r}))
assert batched_device(OperationConfig(device="cpu")) is None
assert not {{"torch", "ultralytics"}} & {{m for m, v in sys.modules.items() if v is not None}}
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, f"the slim worker fails without torch:\n{out.stderr[-3000:]}"


def test_worker_cuda_base_matches_pinned_torch() -> None:
    (ref,) = set(base_images(parse("Dockerfile.worker")))
    cuda = re.match(r"docker\.io/nvidia/cuda:(\d+)\.(\d+)\.\d+-(base|runtime|cudnn-runtime)-ubuntu\d+\.\d+$", ref)
    assert cuda, ref
    # The venv holds the torch pyproject pins (from the same index the image uses); its CUDA major must be the
    # base image's, or the wheel's libraries would not match the cudart the image brings.
    torch_pin = pin(PYPROJECT["optional-dependencies"]["detect"], "torch")
    assert torch_pin == f"=={md.version('torch')}", (torch_pin, md.version("torch"))
    torch_cuda = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.version.cuda or '')"], capture_output=True, text=True
    ).stdout.strip()
    if not torch_cuda:
        pytest.skip("the venv's torch is a CPU-only build: no CUDA version to compare with the base image")
    assert torch_cuda.split(".")[0] == cuda.group(1), (torch_cuda, ref)


def operator_requirements() -> list[str]:
    """Run the operator image's requirements step exactly as its RUN line does (on this pyproject.toml)."""
    _, args = requirements_step("Dockerfile.operator", "/tmp/operator-requirements.txt")
    assert args == []
    out = run_requirements("Dockerfile.operator", "/tmp/operator-requirements.txt")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_operator_entrypoint_and_requirements() -> None:
    cmds = parse("Dockerfile.operator")
    final = stages(cmds)[-1]
    entry = [c for c in final if c.cmd.upper() == "ENTRYPOINT"][-1]
    assert entry.json
    assert list(entry.value) == [
        "kopf",
        "run",
        "-m",
        "videojob.operator.main",
        "--liveness=http://0.0.0.0:8080/healthz",
    ]
    exposed = [p for c in final if c.cmd.upper() == "EXPOSE" for p in c.value]
    assert sorted(exposed) == ["8080", "9090"]
    assert env_of(final)["VIDEOJOB_METRICS_PORT"] == "9090"
    (ref,) = set(base_images(cmds))
    python = re.match(r"docker\.io/library/python:(\d+)\.(\d+)\.\d+-slim", ref)
    assert python, ref
    assert Requirement(f"x{PYPROJECT['requires-python']}").specifier.contains(f"{python[1]}.{python[2]}.0")

    reqs = operator_requirements()
    extra = PYPROJECT["optional-dependencies"]["operator"]
    assert reqs[len(reqs) - len(extra) :] == extra
    names = {canonicalize_name(Requirement(r).name) for r in reqs}
    assert names == {canonicalize_name(Requirement(r).name) for r in extra} | {"pydantic", "prometheus-client"}
    assert not names & {canonicalize_name(h) for h in HEAVY}


def closure(requirements: list[str]) -> set[str]:
    """Installed distributions these requirements pull in (what pip would install into the image)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in md.requires(name) or []]
        for extra in req.extras:
            todo += [
                Requirement(r)
                for r in md.requires(name) or []
                if Requirement(r).marker and Requirement(r).marker.evaluate({"extra": extra})
            ]
    return seen


def test_operator_runs_with_only_the_image_requirements() -> None:
    """Import the operator as the image runs it: every module of a distribution the image's requirements do
    not install (av, cv2, torch, dev tools...) is made unimportable first, as if absent from site-packages."""
    needed = closure(operator_requirements())
    assert not needed & {canonicalize_name(h) for h in HEAVY}
    blocked = sorted(
        module
        for module, dists in md.packages_distributions().items()
        if module != "videojob" and not {canonicalize_name(d) for d in dists} & needed
    )
    assert {"av", "cv2", "torch"} <= set(blocked)
    script = f"""
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` now raises ImportError (optional imports fall back, as in the image)
import videojob.operator.main, videojob.operator.metrics, videojob.operator.progress
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, f"the operator needs more than its image installs:\n{out.stderr[-3000:]}"


def test_dockerignore_keeps_the_context_to_sources() -> None:
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("#")]
    assert lines[0] == "*"  # allow-list: .venv, .git, media and caches never reach the builder
    copied = set()
    for name in DOCKERFILES:
        for c in stages(parse(name))[0]:
            if c.cmd.upper() == "COPY" and not c.flags:
                copied |= {v.rstrip("/") for v in c.value[:-1]}
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert copied == allowed, (copied, allowed)
    for path in copied:
        assert (REPO / path).exists(), path


# The image scripts: syntax, options, and the test Redis image against the chart's redis StatefulSet.

SCRIPTS = REPO / "scripts"


@pytest.mark.parametrize("script", ["build-images.sh", "make-base-image.sh"])
def test_image_scripts_parse_and_explain_themselves(script: str) -> None:
    path = SCRIPTS / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)
    out = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "--force" in out.stdout
    bad = subprocess.run([str(path), "--no-such-option"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0


def test_build_images_names_and_options() -> None:
    text = (SCRIPTS / "build-images.sh").read_text()
    version = PYPROJECT["version"]
    assert "ALL=(operator worker-slim worker redis)" in text
    for tag in (
        "localhost/videojob-operator:$VERSION",
        "localhost/videojob-worker:$VERSION-slim",
        "localhost/videojob-worker:$VERSION",
        "localhost/videojob-redis:test",
    ):
        assert tag in text, tag
    assert re.search(r"^\s*--build-arg FLAVOUR=slim", text, re.M)
    # No bridge or firewall rules on the host: RUN steps share the host's network.
    assert "--network host" in text and "--isolation" in text
    out = subprocess.run(
        [str(SCRIPTS / "build-images.sh"), "--only", "operator,nope"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode != 0 and "unknown image 'nope'" in out.stderr
    assert version  # the tag's VERSION: pyproject's


def redis_containerfile() -> list[dockerfile.Command]:
    text = (SCRIPTS / "build-images.sh").read_text()
    (body,) = re.findall(r"""cat >"\$dir/Containerfile" <<'EOF'\n(.*?)\nEOF\n""", text, re.S)
    return list(dockerfile.parse_string(body + "\n"))


def test_redis_test_image_fits_the_chart() -> None:
    """The chart's redis StatefulSet runs `sh -c 'exec redis-server - ... <<EOF'` as uid/gid 999 with a read-only
    root and an emptyDir on /data, and probes with redis-cli: the test image must run exactly that."""
    cmds = redis_containerfile()
    assert not [c for c in cmds if c.heredocs]
    (ref,) = {c.value[0] for c in cmds if c.cmd.upper() == "FROM"}
    assert ref == "${BASE_IMAGE}" and arg_defaults(cmds)["BASE_IMAGE"] == "localhost/videojob-base:bookworm"
    template = (REPO / "charts" / "videojob-operator" / "templates" / "redis.yaml").read_text()
    uid = re.search(r"runAsUser: (\d+)", template)
    gid = re.search(r"runAsGroup: (\d+)", template)
    assert uid and gid
    assert [c.value[0] for c in cmds if c.cmd.upper() == "USER"] == [f"{uid[1]}:{gid[1]}"]
    mount = re.search(r"mountPath: (\S+)", template)
    assert mount and [c.value[0] for c in cmds if c.cmd.upper() == "WORKDIR"] == [mount[1]]
    entry = [c for c in cmds if c.cmd.upper() == "ENTRYPOINT"]
    assert entry[-1].json and list(entry[-1].value) == ["redis-server"]
    assert 'command: ["sh", "-c"]' in template and "redis-cli ping" in template
    install = " ".join(runs(cmds))
    assert "apt-get install -y --no-install-recommends redis-server" in install  # redis-cli: redis-tools, a dependency
    assert f"--uid {uid[1]}" in install and f"--gid {gid[1]}" in install
