"""Queueing a call's note on real Postgres: only what a person may see is used (a held
dimension never, until a manager confirms it; a manager's criterion score in the AI's place),
the rep's earlier shown scores make the praise, the focus carries over, a manager's hold
keeps notes until they have looked, and notes off queue nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.access import Caller
from common.accuracy import reviews
from common.config import Settings
from common.errors import AccessDenied
from common.repnotes import hold_notes, queue_for_call, set_preferences
from tests.repnotes.world import NOW, RUBRICS, add_call, connect, note, quote

MANAGER = Caller("u-m", "Mia Manager", "manager")
OTHER_MANAGER = Caller("u-m2", "Oli Other", "manager")
ANA = Caller("u-a", "Ana Rep", "rep")
DISCOVERY = {f"discovery.{c.id}": 1.0 for c in RUBRICS.rubrics["discovery"].criteria}


def queue(s: Settings, call_id: str, **options: object) -> int | None:
    with connect(s) as conn:
        return queue_for_call(conn, call_id, s, now=NOW, **options)  # type: ignore[arg-type]


def review(s: Settings, call_id: str, dimension: str, **answer: object) -> None:
    with connect(s) as conn:
        reviews.review(
            conn,
            MANAGER,
            call_id=call_id,
            dimension=dimension,
            note="Looked at it.",
            **{"confirm": True, "score": None, "criteria": None, **answer},  # type: ignore[arg-type]
            s=s,
        )


def test_a_held_dimension_is_never_used_until_a_manager_confirms_it(s: Settings) -> None:
    add_call(s, "c1", "u-a", NOW - timedelta(hours=2), DISCOVERY, held=frozenset({"discovery"}))
    assert queue(s, "c1") is not None
    first = note(s, "c1")
    assert first is not None and not first["focus"].startswith("discovery.")
    text = first["body"] + first["action"]
    assert "discovery" not in text and quote("c1", "discovery") not in text
    assert not any(c.name in text for c in RUBRICS.rubrics["discovery"].criteria)
    review(s, "c1", "discovery")  # confirmed: its criteria are now what the rep may see
    after = note(s, "c1")
    assert after is not None and after["id"] == first["id"] and after["status"] == "pending"
    assert after["focus"].startswith("discovery.")
    assert quote("c1", after["focus"]) in after["body"]


def test_a_managers_criterion_score_takes_the_ais_place(s: Settings) -> None:
    add_call(s, "c1", "u-a", NOW - timedelta(hours=2), DISCOVERY, held=frozenset({"discovery"}))
    review(s, "c1", "discovery", confirm=False, score=3, criteria={"listening": 1})
    n = note(s, "c1")
    assert n is not None and n["focus"] == "discovery.listening"
    assert quote("c1", "discovery") not in n["body"]  # the held AI's evidence stays unused
    assert n["moment_link"] == "https://app.gong.io/call?id=c1"  # no moment: the call


def test_praise_counts_only_earlier_scores_a_person_may_see(s: Settings) -> None:
    for k in range(3):
        add_call(s, f"p{k}", "u-a", NOW - timedelta(days=10 - k), {"discovery.open_questions": 2.0})
    for k in range(2):  # held: their 5s must not count
        add_call(
            s,
            f"h{k}",
            "u-a",
            NOW - timedelta(days=5 - k),
            {"discovery.open_questions": 5.0},
            held=frozenset({"discovery"}),
        )
    add_call(s, "later", "u-a", NOW + timedelta(days=1), {"discovery.open_questions": 1.0})
    add_call(s, "c1", "u-a", NOW - timedelta(hours=2), {"discovery.open_questions": 4.0})
    queue(s, "c1")
    n = note(s, "c1")
    assert n is not None and n["praise"] == "discovery.open_questions"
    assert "up from an average of 2.0 over your previous 3 calls" in n["body"]


def test_the_focus_carries_over_while_it_is_still_low(s: Settings) -> None:
    add_call(s, "c1", "u-a", NOW - timedelta(days=2), {"engagement.patience": 1.0})
    queue(s, "c1")
    first = note(s, "c1")
    assert first is not None and first["focus"] == "engagement.patience"
    add_call(
        s,
        "c2",
        "u-a",
        NOW - timedelta(days=1),
        {"engagement.patience": 2.0, "objections.next_steps": 1.0, "discovery.listening": 1.0},
    )
    queue(s, "c2")
    second = note(s, "c2")
    assert second is not None and second["focus"] == "engagement.patience"
    assert "Your focus stays on Patience" in second["body"]


def test_a_hold_keeps_notes_until_the_manager_has_looked(s: Settings) -> None:
    with connect(s) as conn:
        held = hold_notes(conn, MANAGER, s, "ana@example.com", True, now=NOW)
        assert held.manager_hold and held.hold_set_by == "u-m"
        for caller in (OTHER_MANAGER, ANA):
            with pytest.raises(AccessDenied):
                hold_notes(conn, caller, s, "ana@example.com", True, now=NOW)
    add_call(s, "c1", "u-a", NOW - timedelta(hours=3), {})
    add_call(s, "c2", "u-a", NOW - timedelta(hours=2), {})
    add_call(s, "b1", "u-b", NOW - timedelta(hours=2), {})
    for call_id in ("c1", "c2", "b1"):
        queue(s, call_id)
    assert [note(s, c)["status"] for c in ("c1", "c2", "b1")] == ["held", "held", "pending"]  # type: ignore[index]
    review(s, "c1", "engagement")  # the manager looked at c1: its note goes
    assert [note(s, c)["status"] for c in ("c1", "c2")] == ["pending", "held"]  # type: ignore[index]
    with connect(s) as conn:
        hold_notes(conn, MANAGER, s, "u-a", False, now=NOW)
    assert note(s, "c2")["status"] == "pending"  # type: ignore[index]


def test_notes_off_queue_nothing_and_skip_the_unsent(s: Settings) -> None:
    add_call(s, "c1", "u-a", NOW - timedelta(hours=3), {})
    add_call(s, "c2", "u-a", NOW - timedelta(hours=2), {})
    assert queue_for_call_off(s, "c1") is None and note(s, "c1") is None
    queue(s, "c1")
    with connect(s) as conn:
        chosen = set_preferences(conn, ANA, s, channel=None, cadence="off", now=NOW)
    assert chosen.cadence == "off"
    assert note(s, "c1")["status"] == "skipped"  # type: ignore[index]
    assert queue(s, "c2") is None and note(s, "c2") is None


def queue_for_call_off(s: Settings, call_id: str) -> int | None:
    off = s.model_copy(update={"rep_notes": False})
    with connect(off) as conn:
        return queue_for_call(conn, call_id, off, now=NOW)


def test_a_managers_score_or_a_resolved_dispute_releases_a_held_note(s: Settings) -> None:
    """Not only the review queue: a manager's own score on the call and their decision on a
    dispute are a person having looked, so the held note goes (rewritten from what is shown)."""
    from common.accuracy import disputes
    from common.insights.commands import Commands
    from common.insights.service import Insights
    from common.storage import ObjectStore

    with connect(s) as conn:
        hold_notes(conn, MANAGER, s, "u-a", True, now=NOW)
    add_call(s, "c1", "u-a", NOW - timedelta(hours=3), {})
    add_call(s, "c2", "u-a", NOW - timedelta(hours=2), {})
    queue(s, "c1")
    queue(s, "c2")
    assert [note(s, c)["status"] for c in ("c1", "c2")] == ["held", "held"]  # type: ignore[index]
    reads = Insights(s, ObjectStore.from_settings(s), rubrics=RUBRICS)
    commands = Commands(reads)
    try:
        commands.record_manager_score(
            "u-m", call_id="c1", dimension="discovery", criterion="overall", score=4, reason="ok"
        )
        assert note(s, "c1")["status"] == "pending"  # type: ignore[index]
        with connect(s) as conn:
            opened = disputes.open_dispute(
                conn,
                call_id="c2",
                rep_id="u-a",
                dimension="discovery",
                criterion="overall",
                reason="unfair",
            )
        assert note(s, "c2")["status"] == "held"  # type: ignore[index]
        commands.resolve_dispute(
            "u-m", dispute_id=opened.id, decision="uphold", score=None, reason="fair"
        )
        assert note(s, "c2")["status"] == "pending"  # type: ignore[index]
    finally:
        reads.close()
