"""Won / lost / open from the tenant's stage names, Probability as the fallback, unknown names
reported and never guessed."""

from __future__ import annotations

import logging

import pytest

from common.config import load_settings
from common.deals import StageMap
from common.deals.stages import Decision
from common.errors import ConfigError


def test_salesforces_stage_names_are_the_default() -> None:
    stages = StageMap.from_settings(load_settings(database_url="postgresql://x"))
    assert stages.decide("Closed Won", None) == Decision("won", True)
    assert stages.decide("  closed   LOST ", 35) == Decision("lost", True)  # the map wins
    assert stages.decide("Negotiation/Review", 90) == Decision("open", True)


def test_the_tenants_own_names_replace_the_default() -> None:
    stages = StageMap.parse("Signed=won, Churned=lost ,Demo=open")
    assert stages.decide("signed", None).outcome == "won"
    assert stages.decide("Churned", 80).outcome == "lost"
    assert stages.decide("Demo", 0) == Decision("open", True)  # named: probability not asked


def test_probability_decides_an_unknown_stage_only_at_100_or_0() -> None:
    stages = StageMap.parse("Closed Won=won")
    assert stages.decide("Contract Signed", 100) == Decision("won", True)
    assert stages.decide("Gone Dark", 0.0) == Decision("lost", True)


def test_an_unknown_stage_is_kept_open_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    stages = StageMap.parse("Closed Won=won")
    with caplog.at_level(logging.WARNING, logger="sales_coach.deals"):
        first = stages.decide("Verbal Yes (unit test)", 90)
        again = stages.decide("Verbal Yes (unit test)", 95)
        none = stages.decide(None, None)
    assert first == again == none == Decision("open", False)
    reported = [r.getMessage() for r in caplog.records]
    assert sum("Verbal Yes (unit test)" in m for m in reported) == 1
    assert any("(no stage)" in m for m in reported)


def test_a_malformed_stage_map_is_one_line_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"^DEAL_STAGE_OUTCOMES is invalid"):
        load_settings(database_url="postgresql://x", deal_stage_outcomes="Closed Won=maybe")
    with pytest.raises(ConfigError, match=r"^DEAL_STAGE_OUTCOMES is invalid"):
        load_settings(database_url="postgresql://x", deal_stage_outcomes="Closed Won")
