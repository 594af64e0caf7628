"""The deal behind a call, read from Gong's CRM context (`context[]` of calls/extensive with
`contentSelector.context: "Extended"`, or of the webhook's `callData`).

Each linked CRM object comes once per timing asked: `Now` (the opportunity today: its outcome)
and `TimeOfCall` (the stage when the call happened). When a call links to several
opportunities, the first Gong lists is the call's deal. Field values are the CRM's own: strings
or numbers, read leniently (an amount "50000.00" or 50000; a close date "2026-11-20" or a
timestamp); a value that cannot be read is left empty, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from common.gong import CallContext, ContextObject

OPPORTUNITY = "Opportunity"


@dataclass(frozen=True)
class Snapshot:
    """An opportunity's fields at one timing."""

    name: str | None = None
    stage: str | None = None
    amount: Decimal | None = None
    close_date: date | None = None
    probability: float | None = None


@dataclass(frozen=True)
class CallDeal:
    """What the context says about the call's deal; `opportunity_id` None: the call has none."""

    crm_system: str | None = None
    opportunity_id: str | None = None
    now: Snapshot | None = None
    at_call: Snapshot | None = None


def call_deal(context: list[CallContext] | None) -> CallDeal | None:
    """The call's deal, `CallDeal()` when the call links to no opportunity, or None when the
    context cannot say (not sent, or Basic: links without fields)."""
    if context is None:
        return None
    opportunities = [
        (ctx.system or "Generic", obj)
        for ctx in context
        for obj in ctx.objects
        if obj.objectType == OPPORTUNITY and obj.objectId
    ]
    if not opportunities:
        return CallDeal()
    with_fields = [(system, obj) for system, obj in opportunities if obj.fields]
    if not with_fields:
        return None  # Basic context: which deal, but nothing about it
    system, first = with_fields[0]
    same = [o for s, o in with_fields if s == system and o.objectId == first.objectId]
    return CallDeal(
        crm_system=system,
        opportunity_id=first.objectId,
        now=_snapshot(same, "Now"),
        at_call=_snapshot(same, "TimeOfCall"),
    )


def _snapshot(objects: list[ContextObject], timing: str) -> Snapshot | None:
    found = next((o for o in objects if (o.timing or "Now") == timing), None)
    if found is None:
        return None
    values = {f.name.casefold(): f.value for f in found.fields}
    return Snapshot(
        name=_text(values.get("name")),
        stage=_text(values.get("stagename")),
        amount=_decimal(values.get("amount")),
        close_date=_date(values.get("closedate")),
        probability=_float(values.get("probability")),
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: Any) -> Decimal | None:
    text = _text(value)
    if text is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _float(value: Any) -> float | None:
    number = _decimal(value)
    return float(number) if number is not None else None


def _date(value: Any) -> date | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None
