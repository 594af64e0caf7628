"""The demo's sample history, read the way a company's own is (real Postgres): its planted
criterion is found, the criteria that only follow rep skill or stage are not called."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from common.validity import from_db
from local.sample_history import PLANTED, seed_history


def test_the_planted_criterion_is_found_and_nothing_else(db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        history = seed_history(conn)
        report = from_db(conn, None, min_deals=100)
        mine = from_db(conn, {"u-hist-r00"}, min_deals=100)
    assert report.enough_deals and report.deals == history.deals == 288
    assert 0 < report.won < 288
    found = {
        f"{c.dimension}/{c.criterion}"
        for c in report.criteria
        if c.ci_low is not None and c.ci_low > 1 and c.q_value is not None and c.q_value < 0.1
    }
    # the overall averages it in; the criteria following rep skill or stage are not called
    assert PLANTED in found <= {PLANTED, "discovery/overall"}
    assert (mine.enough_deals, mine.deals, mine.more_needed) == (False, 12, 88)
