"""Turn a pydantic model's JSON Schema into a Kubernetes structural OpenAPI v3 schema.

Kubernetes wants: no $ref, no anyOf-with-null (optional = not required), no titles, no `additionalProperties`
beside `properties`, OpenAPI 3.0 exclusive bounds, and `description`s where we have them.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

_DROP = {"title", "$defs"}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}))


def _convert(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").rsplit("/", 1)[-1]])
        # Keys beside the $ref (default, validations) override the referenced model's own.
        merged_rules = target.get("x-kubernetes-validations", []) + node.pop("x-kubernetes-validations", [])
        target.update(node)
        if merged_rules:
            target["x-kubernetes-validations"] = merged_rules
        node = target
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {len(options)} types structurally: {options}")
        outer = {k: v for k, v in node.items() if k != "default" or v is not None}
        return _convert({**options[0], **outer}, defs)
    if node.get("default", 0) is None:
        del node["default"]
    if "properties" in node:
        node.pop("additionalProperties", None)
        node["type"] = "object"
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[plain] = node[bound]
            node[bound] = True
    if "x-kubernetes-preserve-unknown-fields" in node:
        node.pop("additionalProperties", None)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, defs)
        else:
            out[key] = value
    return out
