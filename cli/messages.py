"""Validation errors in plain words: one line, the field and what is wrong, none of pydantic's own prefixes."""

from __future__ import annotations

from typing import Any

# pydantic puts these before the message of an error raised by a validator ("Value error, region extends ...").
_PREFIXES = ("Value error, ", "Assertion failed, ")


# What a pattern the spec's fields use means, by the field's last name (spec.py's _QUANTITY, _CLAIM_NAME, ...).
_PATTERNS = {
    "cpu": "a CPU quantity such as 500m or 2",
    "memory": "a memory quantity such as 512Mi or 4Gi",
    "claimName": "a claim name: lowercase letters, digits, '-' and '.'",
    "gpuResourceName": "a resource name such as nvidia.com/gpu",
    "redisUrl": "a redis:// or rediss:// URL",
}


def error_line(err: dict[str, Any]) -> str:
    """`where: what` for one of pydantic's `ValidationError.errors()` entries."""
    ctx = err.get("ctx") or {}
    loc = [str(p) for p in err.get("loc", ())]
    if err.get("type") == "value_error" and "error" in ctx:
        msg = str(ctx["error"])
    elif err.get("type") == "string_pattern_mismatch":
        wanted = _PATTERNS.get(loc[-1] if loc else "", f"text matching {ctx.get('pattern')}")
        msg = f"{err.get('input')!r} is not {wanted}"
    else:
        msg = str(err.get("msg", ""))
        for prefix in _PREFIXES:
            msg = msg.removeprefix(prefix)
    where = ".".join(loc)
    return " ".join((f"{where}: {msg}" if where else msg).split())


def validation_line(exc: Exception) -> str:
    """The first problem of a pydantic ValidationError (one line; the rest follow once it is fixed), or the
    exception's text for anything else."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            extra = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            return error_line(found[0]) + extra
    return " ".join(str(exc).split())
