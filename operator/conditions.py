"""metav1.Condition bookkeeping: lastTransitionTime changes only when the status does."""

from __future__ import annotations

from .status import Condition


def set_condition(
    conditions: list[Condition], type_: str, status: bool, reason: str, message: str, generation: int | None, now: str
) -> list[Condition]:
    value = "True" if status else "False"
    out = []
    found = False
    for c in conditions:
        if c.type == type_:
            found = True
            when = c.last_transition_time if c.status == value else now
            c = Condition(
                type=type_,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=when,
                observed_generation=generation,
            )
        out.append(c)
    if not found:
        out.append(
            Condition(
                type=type_,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=generation,
            )
        )
    return out
