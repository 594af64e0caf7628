"""The sample calls' deals: Salesforce opportunities as Gong's Extended CRM context shows them
(`context[]` of calls/extensive, at both timings), for the Gong stand-in, the demo and tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DealSpec:
    """A Salesforce opportunity a sample call belongs to: now, and as it stood at the call."""

    opportunity_id: str
    account_id: str
    account: str
    name: str
    amount: int
    close_date: str
    stage: str  # now
    probability: int  # now
    stage_at_call: str
    probability_at_call: int


# The sample calls' deals (the internal pipeline review has none): won, lost, open, one on a
# stage name the default map does not know ("Discovery"), one won by Probability 100 alone
# ("Contract Signed"). The demo closes Acme's in between and the daily refresh picks it up.
DEALS: dict[str, DealSpec] = {
    "7001001": DealSpec(
        "006Nw000001AcmeAAA",
        "001Nw000001AcmeAAA",
        "Acme Logistics",
        "Acme Logistics - Beacon",
        48000,
        "2026-12-18",
        "Proposal/Price Quote",
        75,
        "Qualification",
        20,
    ),
    "7001002": DealSpec(
        "006Nw000002GlobAAA",
        "001Nw000002GlobAAA",
        "Globex",
        "Globex - Beacon Enterprise",
        120000,
        "2026-11-20",
        "Closed Lost",
        0,
        "Needs Analysis",
        20,
    ),
    "7001003": DealSpec(
        "006Nw000003InitAAA",
        "001Nw000003InitAAA",
        "Initech",
        "Initech - Beacon",
        65000,
        "2026-11-19",
        "Closed Won",
        100,
        "Negotiation/Review",
        90,
    ),
    "7001004": DealSpec(
        "006Nw000004UmbrAAA",
        "001Nw000004UmbrAAA",
        "Umbrella Health",
        "Umbrella Health - Renewal 2027",
        30000,
        "2027-01-29",
        "Negotiation/Review",
        90,
        "Qualification",
        10,
    ),
    "7001005": DealSpec(
        "006Nw000005HoolAAA",
        "001Nw000005HoolAAA",
        "Hooli",
        "Hooli - Beacon",
        90000,
        "2026-10-30",
        "Closed Won",
        100,
        "Closed Won",
        100,
    ),
    "7001007": DealSpec(
        "006Nw000007MuelAAA",
        "001Nw000007MuelAAA",
        "Müller Maschinenbau",
        "Müller Maschinenbau - Beacon",
        40000,
        "2027-02-26",
        "Discovery",
        10,
        "Discovery",
        10,
    ),
    "7001008": DealSpec(
        "006Nw000008YamaAAA",
        "001Nw000008YamaAAA",
        "ヤマト物流",
        "ヤマト物流 - Beacon",
        55000,
        "2026-11-21",
        "Contract Signed",
        100,
        "Discovery",
        10,
    ),
}
CLOSING_IN_DEMO = ("7001001", "Closed Won", 100, "2026-11-20")  # call, stage, probability, date


def opportunity_fields(
    name: str, stage: str, amount: int, close_date: str, probability: int
) -> list[dict[str, Any]]:
    """An Opportunity's fields as Gong's Extended context lists them (name, value)."""
    return [
        {"name": "Name", "value": name},
        {"name": "StageName", "value": stage},
        {"name": "Amount", "value": amount},
        {"name": "CloseDate", "value": close_date},
        {"name": "Probability", "value": probability},
    ]


def crm_context(call_id: str) -> list[dict[str, Any]]:
    """The call's `context[]` with Extended fields at both timings (Now and TimeOfCall)."""
    deal = DEALS.get(call_id)
    if deal is None:
        return []
    account = [{"name": "Name", "value": deal.account}]
    now = opportunity_fields(deal.name, deal.stage, deal.amount, deal.close_date, deal.probability)
    then = opportunity_fields(
        deal.name, deal.stage_at_call, deal.amount, deal.close_date, deal.probability_at_call
    )
    objects = [
        {"objectType": "Account", "objectId": deal.account_id, "timing": timing, "fields": account}
        for timing in ("Now", "TimeOfCall")
    ] + [
        {
            "objectType": "Opportunity",
            "objectId": deal.opportunity_id,
            "timing": "Now",
            "fields": now,
        },
        {
            "objectType": "Opportunity",
            "objectId": deal.opportunity_id,
            "timing": "TimeOfCall",
            "fields": then,
        },
    ]
    return [{"system": "Salesforce", "objects": objects}]
