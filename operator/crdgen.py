"""Render the VideoJob CRD from the pydantic models: `python -m videojob.operator.crdgen --write|--check`.

pydantic emits JSON Schema; Kubernetes wants a structural OpenAPI v3 subset, so references are inlined,
`anyOf [X, null]` becomes a nullable X, and titles go. Rules that span fields are CEL validations.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from .api import GROUP, KIND, PLURAL, VERSION, VideoJobSpec, VideoJobStatus

REPO = Path(__file__).resolve().parent.parent
TARGETS = (REPO / "crds" / "videojob.yaml", REPO / "charts" / "videojob-operator" / "crds" / "videojob.yaml")
FREE_FORM = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
SAFE_PATH_RULE = {
    "rule": "!self.path.split('/').exists(s, s == '..' || s == '.' || s == '')",
    "message": "path must stay inside the volume: relative, without '..', '.' or empty segments",
}
IMMUTABLE = ("input", "output", "detector", "operation", "segmentation", "encode")


def structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            out = structural({**options[0], **rest}, defs)
            out["nullable"] = True
            return out
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs", "prefixItems"):
            continue
        if key == "additionalProperties" and value is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
            continue
        if key == "additionalProperties" and value is False:
            continue  # not allowed in structural schemas; the API server prunes unknown fields instead
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "properties":
            out[key] = {k: structural(v, defs) for k, v in value.items()}
        else:
            out[key] = structural(value, defs)
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out.update(FREE_FORM)
    if "default" in out and out["default"] is None:
        del out["default"]
    return out


def schema_of(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}))


def spec_schema() -> dict[str, Any]:
    spec = schema_of(VideoJobSpec)
    props = spec["properties"]
    props["input"]["x-kubernetes-validations"] = [dict(SAFE_PATH_RULE)]
    props["output"]["x-kubernetes-validations"] = [dict(SAFE_PATH_RULE)]
    props["detector"]["x-kubernetes-validations"] = [
        {"rule": "self.kind != 'static' || size(self.regions) > 0", "message": "detector static needs regions"},
        {"rule": "self.kind != 'yolo' || has(self.model)", "message": "detector yolo needs a model path"},
        {"rule": "self.kind != 'template' || has(self.template)", "message": "detector template needs a template"},
    ]
    props["segmentation"]["x-kubernetes-validations"] = [
        {"rule": "self.minSegments <= self.maxSegments", "message": "minSegments must not exceed maxSegments"}
    ]
    spec["x-kubernetes-validations"] = [
        {"rule": " && ".join(f"self.{f} == oldSelf.{f}" for f in IMMUTABLE),
         "message": "input, output, detector, operation, segmentation and encode are immutable; create a new VideoJob"},
        {"rule": "!(self.output.path == self.input.path && (!has(self.output.claimName) || "
                 "self.output.claimName == self.input.claimName))",
         "message": "output must not overwrite the input"},
    ]
    return spec


def status_schema() -> dict[str, Any]:
    status = schema_of(VideoJobStatus)
    status["x-kubernetes-preserve-unknown-fields"] = True  # kopf keeps its own progress under status.kopf
    return status


def crd() -> dict[str, Any]:
    columns = [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Segments", "type": "string", "jsonPath": ".status.segments.summary", "description": "done/total"},
        {"name": "Progress", "type": "integer", "jsonPath": ".status.progress", "description": "percent"},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}", "labels": {"app.kubernetes.io/name": "videojob"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "videojob", "kind": KIND, "listKind": f"{KIND}List",
                      "shortNames": ["vj"], "categories": ["videojob", "all"]},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "A video processed in segments, one GPU pod per segment.",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec_schema(),
                        "status": status_schema(),
                    },
                }},
            }],
        },
    }


def render() -> str:
    header = "# Generated by `python -m videojob.operator.crdgen --write` from operator/api.py. Do not edit.\n"
    return header + yaml.safe_dump(crd(), sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the CRD files")
    parser.add_argument("--check", action="store_true", help="fail when a committed CRD file differs")
    args = parser.parse_args(argv)
    text = render()
    stale = [t for t in TARGETS if not t.is_file() or t.read_text() != text]
    if args.write:
        for target in TARGETS:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return 0
    if args.check and stale:
        print(f"stale CRD files: {', '.join(str(s) for s in stale)}; run `make crds`", file=sys.stderr)
        return 1
    if not args.check:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
