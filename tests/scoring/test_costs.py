from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from common.config import ROOT
from common.errors import ConfigError
from common.scoring.costs import PriceTable, Usage

PRICES = PriceTable.load(ROOT / "common" / "prices.csv")


def test_sonnet_5_5_cache_read_price_changes_on_2026_10_07() -> None:
    usage = Usage(input_tokens=0, output_tokens=0, cache_read_tokens=1_000_000)
    assert PRICES.cost("claude-sonnet-5-5", usage, date(2026, 10, 6)) == Decimal("0.20")
    assert PRICES.cost("claude-sonnet-5-5", usage, date(2026, 10, 7)) == Decimal("0.10")


def test_every_token_kind_is_priced() -> None:
    usage = Usage(
        input_tokens=1000,
        output_tokens=2000,
        cache_read_tokens=10_000,
        cache_write_5m_tokens=20_000,
        cache_write_1h_tokens=5000,
    )
    expected = (1000 * 2 + 2000 * 10 + 10_000 * 0.10 + 20_000 * 2.5 + 5000 * 4) / 1e6
    assert float(PRICES.cost("claude-sonnet-5-5", usage, date(2026, 11, 24))) == pytest.approx(
        expected
    )


def test_batch_is_half_price() -> None:
    usage = Usage(input_tokens=123_456, output_tokens=7890, cache_read_tokens=5000)
    day = date(2026, 11, 24)
    assert PRICES.cost("claude-sonnet-5-5", usage, day, batch=True) * 2 == pytest.approx(
        PRICES.cost("claude-sonnet-5-5", usage, day), abs=Decimal("0.000002")
    )


def test_haiku_5_5_long_prompt_band() -> None:
    day = date(2026, 11, 24)
    short = Usage(input_tokens=100_000, output_tokens=0)
    long = Usage(input_tokens=60_000, output_tokens=0, cache_read_tokens=40_001)
    assert PRICES.cost("claude-haiku-5-5", short, day) == Decimal("0.010000")
    assert PRICES.cost("claude-haiku-5-5", long, day) == Decimal("0.030000") + Decimal("0.002000")


def test_unknown_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no price for model claude-nonexistent"):
        PRICES.cost("claude-nonexistent", Usage(1, 1), date(2026, 11, 24))


def test_retired_and_retiring_models(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="claude-sonnet-4-5 retired on 2026-11-30"):
        PRICES.check_model("claude-sonnet-4-5", date(2026, 12, 1))
    with caplog.at_level("WARNING", logger="sales_coach.costs"):
        PRICES.check_model("claude-sonnet-4-5", date(2026, 11, 24))
    assert "retires on 2026-11-30" in caplog.text
    PRICES.check_model("claude-sonnet-5-5", date(2026, 12, 1))
    with pytest.raises(ConfigError, match="not in the price file"):
        PRICES.check_model("claude-sonnet-9", date(2026, 12, 1))


def test_month_to_date_works_on_29_february(db_url: str) -> None:
    """It used now.replace(year=now.year + 1), which raises on a leap day."""
    from datetime import UTC, datetime

    import psycopg
    from psycopg.rows import dict_row

    from common.scoring.costs import month_to_date

    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        conn.execute(
            "INSERT INTO claude_usage (response_id, model, call_id, dimension, chunk_index,"
            " purpose, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,"
            " cache_write_1h_tokens, usd, is_batch, at) VALUES ('msg_leap', 'claude-sonnet-5-5',"
            " '1', 'discovery', 0, 'score', 10, 10, 0, 0, 0, 0.25, false, '2028-02-10T12:00Z')"
        )
        leap = month_to_date(conn, datetime(2028, 2, 29, 9, tzinfo=UTC))
        march = month_to_date(conn, datetime(2028, 3, 1, 9, tzinfo=UTC))
    assert float(leap["usd"]) == 0.25 and leap["requests"] == 1
    assert float(march["usd"]) == 0


def test_a_dated_snapshot_is_priced_as_its_model() -> None:
    day = date(2026, 12, 1)
    assert PRICES.known("claude-haiku-5-5-20261015")
    assert PRICES.price("claude-haiku-5-5-20261015", day) == PRICES.price("claude-haiku-5-5", day)
    assert not PRICES.known("claude-haiku-5-5-preview")  # only a date makes a snapshot
    with pytest.raises(ConfigError):
        PRICES.price("claude-haiku-5-5-preview", day)


def test_a_response_from_a_model_the_table_does_not_know_is_priced_as_the_one_asked() -> None:
    from common.scoring.ledger import paid

    usage = Usage(input_tokens=1000, output_tokens=100)
    where = {"call_id": "c1", "dimension": "discovery", "chunk_index": 0, "purpose": "score"}
    entry = paid(
        PRICES,
        response_id="msg_1",
        request_id=None,
        model="claude-mystery-9",
        usage=usage,
        batch=False,
        asked="claude-sonnet-5-5",
        **where,
    )
    assert entry.model == "claude-mystery-9"  # the ledger says what answered
    assert entry.usd == PRICES.cost("claude-sonnet-5-5", usage, entry.at.date())
    served = paid(
        PRICES,
        response_id="msg_2",
        request_id=None,
        model="claude-haiku-5-5",
        usage=usage,
        batch=False,
        asked="claude-sonnet-5-5",
        **where,
    )
    assert served.usd == PRICES.cost("claude-haiku-5-5", usage, served.at.date())
