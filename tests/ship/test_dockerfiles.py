"""The two Dockerfiles, checked without a Docker engine (none here): parsed with BuildKit's own parser
(the `dockerfile` package), and the operator image's dependency step run outside Docker."""

from __future__ import annotations

import importlib.metadata as md
import re
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


def base_images(cmds: list[dockerfile.Command]) -> list[str]:
    args = {}
    for cmd in cmds:
        if cmd.cmd.upper() == "ARG" and "=" in cmd.value[0]:
            key, _, val = cmd.value[0].partition("=")
            args[key] = val
    names = {c.value[2].lower() for c in cmds if c.cmd.upper() == "FROM" and len(c.value) == 3}
    images = []
    for cmd in cmds:
        if cmd.cmd.upper() == "FROM":
            ref = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], cmd.value[0])
            if ref.lower() not in names:
                images.append(ref)
    return images


def pin(requirement_group: list[str], name: str) -> str:
    for raw in requirement_group:
        req = Requirement(raw)
        if canonicalize_name(req.name) == canonicalize_name(name):
            return str(req.specifier)
    raise AssertionError(f"{name} not in {requirement_group}")


@pytest.mark.parametrize("name", ["Dockerfile.worker", "Dockerfile.operator"])
def test_images_pinned_multistage_nonroot(name: str) -> None:
    cmds = parse(name)
    images = base_images(cmds)
    assert images, "no FROM"
    for ref in images:
        repo, _, tag = ref.rpartition(":")
        assert repo and "/" not in tag, f"{ref}: base image without a tag"
        assert tag != "latest" and "latest" not in tag, ref
        # A full version (x.y.z), not a floating major/minor tag.
        assert re.match(r"^\d+\.\d+\.\d+-", tag), f"{ref}: tag is not a full x.y.z version"
    parts = stages(cmds)
    assert len(parts) >= 2, "multi-stage: build tools and caches stay in the builder"
    final = parts[-1]
    users = [c.value[0] for c in final if c.cmd.upper() == "USER"]
    # Numeric uid:gid, so that runAsNonRoot can verify it without /etc/passwd.
    assert users and users[-1] == "10001:10001", users
    # Nothing is fetched or installed from a package index in the final stage.
    for c in final:
        if c.cmd.upper() == "RUN":
            line = " ".join(c.value)
            assert not re.search(r"\b(pip|curl|wget)\b", line), line
    # Only the built venv crosses from the builder.
    copies = [c for c in final if c.cmd.upper() == "COPY"]
    assert [c.value for c in copies] == [("/opt/venv", "/opt/venv")]
    assert [c.flags for c in copies] == [("--from=builder",)]


def test_worker_entrypoint_env_and_pins_match_pyproject() -> None:
    cmds = parse("Dockerfile.worker")
    final = stages(cmds)[-1]
    entry = [c for c in final if c.cmd.upper() == "ENTRYPOINT"]
    assert entry and entry[-1].json and list(entry[-1].value) == ["python", "-m", "videojob.worker"]
    env = {}
    for c in final:
        if c.cmd.upper() == "ENV":
            env.update(dict(zip(c.value[::2], c.value[1::2], strict=True)))
    assert env["YOLO_OFFLINE"] == "1"  # models by path only, never a hub download
    assert "video" in env["NVIDIA_DRIVER_CAPABILITIES"].split(",")  # NVENC/NVDEC libraries from the driver
    assert env["PATH"].startswith("/opt/venv/bin:")

    # The pins the image installs are pulled out of pyproject.toml by the RUN lines themselves: run those
    # same `grep` substitutions here and compare with pyproject's groups.
    runs = " ".join(" ".join(c.value) for c in stages(cmds)[0] if c.cmd.upper() == "RUN")
    assert '"/src[detect]"' in runs
    picked = []
    for expr in re.findall(r"\$\((grep -o '[^']+' pyproject.toml)\)", runs):
        out = subprocess.run(["bash", "-c", expr], cwd=REPO, capture_output=True, text=True, check=True)
        picked.append(out.stdout.strip())
    assert picked == [
        f"redis{pin(PYPROJECT['optional-dependencies']['operator'], 'redis')}",
        f"opencv-python-headless{pin(PYPROJECT['dependencies'], 'opencv-python-headless')}",
    ]


def test_worker_cuda_base_matches_pinned_torch() -> None:
    (ref,) = set(base_images(parse("Dockerfile.worker")))
    cuda = re.match(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-(base|runtime|cudnn-runtime)-ubuntu\d+\.\d+$", ref)
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
    """Run the operator image's requirements step (its heredoc) exactly as the RUN line does."""
    cmds = parse("Dockerfile.operator")
    (step,) = [c for c in cmds if c.cmd.upper() == "RUN" and c.heredocs]
    assert step.value[0].startswith("python - > /tmp/operator-requirements.txt")
    out = subprocess.run(
        [sys.executable, "-"], input=step.heredocs[0].content, cwd=REPO, capture_output=True, text=True, check=True
    )
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
    (ref,) = set(base_images(cmds))
    python = re.match(r"python:(\d+)\.(\d+)\.\d+-slim", ref)
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
    assert lines[0] == "*"  # allow-list: .venv, .git, media and caches never reach the daemon
    copied = set()
    for name in ("Dockerfile.worker", "Dockerfile.operator"):
        for c in stages(parse(name))[0]:
            if c.cmd.upper() == "COPY" and not c.flags:
                copied |= {v.rstrip("/") for v in c.value[:-1]}
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert copied == allowed, (copied, allowed)
    for path in copied:
        assert (REPO / path).exists(), path
