"""A call's deal read from Gong's CRM context, shaped as Gong's published spec says
(`CallContextDto` / `ExternalCallObject` / `ContextField` of calls/extensive)."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

from common.deals import CallDeal, call_deal
from common.gong import Call
from local.gong_spec import errors_of, spec
from local.sample_deals import crm_context
from local.samples import sample_calls

OPP = "0065g00000AbCdEAAA"


def _validate_context(context: list[dict[str, Any]]) -> None:
    """Against the spec's own schema, as the contract tests read it (`local.gong_spec`: its one
    relaxation is ContextField.value, declared `type: object` while its example and real values
    are strings and numbers)."""
    assert errors_of(spec().component("CallData")["properties"]["context"], context) == []


def _opportunity(timing: str, stage: str, probability: Any, amount: Any = 48000) -> dict[str, Any]:
    return {
        "objectType": "Opportunity",
        "objectId": OPP,
        "timing": timing,
        "fields": [
            {"name": "Name", "value": "Acme - Beacon"},
            {"name": "StageName", "value": stage},
            {"name": "Amount", "value": amount},
            {"name": "CloseDate", "value": "2026-12-18"},
            {"name": "Probability", "value": probability},
            {"name": "LeadSource", "value": "Web"},
        ],
    }


def _call(context: Any) -> Call:
    raw = copy.deepcopy(sample_calls()[0]["call"])
    raw.pop("context")
    if context is not None:
        raw["context"] = context
    return Call.model_validate(json.loads(json.dumps(raw)))


def test_both_timings_of_an_opportunity_are_read_apart() -> None:
    context = [
        {
            "system": "Salesforce",
            "objects": [
                {"objectType": "Account", "objectId": "001", "timing": "Now", "fields": []},
                _opportunity("TimeOfCall", "Qualification", 20, "1,500.50"),
                _opportunity("Now", "Closed Won", "100"),
            ],
        }
    ]
    _validate_context(context)
    deal = call_deal(_call(context).context)
    assert deal is not None and deal.crm_system == "Salesforce" and deal.opportunity_id == OPP
    assert deal.now is not None and deal.at_call is not None
    assert (deal.now.stage, deal.now.probability) == ("Closed Won", 100.0)
    assert deal.now.amount == Decimal(48000)
    assert (deal.at_call.stage, deal.at_call.amount) == ("Qualification", Decimal("1500.50"))
    assert deal.now.name == "Acme - Beacon" and deal.now.close_date == date(2026, 12, 18)


def test_the_stand_ins_sample_context_is_spec_shaped_and_read() -> None:
    context = crm_context("7001003")
    _validate_context(context)
    deal = call_deal(_call(context).context)
    assert deal is not None and deal.now is not None and deal.at_call is not None
    assert (deal.at_call.stage, deal.now.stage) == ("Negotiation/Review", "Closed Won")


def test_no_deal_and_cannot_say_are_different() -> None:
    assert call_deal(_call([]).context) == CallDeal()  # asked: the call links to no deal
    accounts_only = [{"system": "HubSpot", "objects": [{"objectType": "Account", "objectId": "9"}]}]
    assert call_deal(_call(accounts_only).context) == CallDeal()
    assert call_deal(_call(None).context) is None  # not sent: the daily refresh asks
    basic = [{"system": "Salesforce", "objects": [{"objectType": "Opportunity", "objectId": OPP}]}]
    _validate_context(basic)
    assert call_deal(_call(basic).context) is None  # Basic: which deal, nothing about it


def test_the_first_opportunity_is_the_calls_deal_and_bad_values_stay_empty() -> None:
    other = {**_opportunity("Now", "Prospecting", 10), "objectId": "006OTHER"}
    first = _opportunity("Now", "Negotiation/Review", "n/a", amount={"currency": "USD"})
    first["fields"][3]["value"] = "someday"
    deal = call_deal(_call([{"system": "Salesforce", "objects": [first, other]}]).context)
    assert deal is not None and deal.opportunity_id == OPP and deal.now is not None
    assert deal.at_call is None
    assert (deal.now.amount, deal.now.probability, deal.now.close_date) == (None, None, None)


def test_numeric_object_ids_are_kept_as_text() -> None:
    big = 2**63 - 7
    context = [
        {"system": "Generic", "objects": [{**_opportunity("Now", "Won", 100), "objectId": big}]}
    ]
    deal = call_deal(_call(context).context)
    assert deal is not None and deal.opportunity_id == str(big)
