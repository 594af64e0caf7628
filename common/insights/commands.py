"""Commands from Claude Desktop: queue an analysis (and follow it), record a manager's score.

They act in the caller's scope through the read side's plumbing (`Insights`: the pool, the
caller's identity) but write through the owners: the outbox (`intake.outbox`, via
`insights.requests`), manager scores (`accuracy.manager_scores`).
"""

from __future__ import annotations

from common.access.scope import find_call, require_role
from common.accuracy import manager_scores
from common.errors import AccessDenied, InvalidRequest
from common.insights import requests
from common.insights.results import ManagerScoreRecorded
from common.insights.service import Insights, log_access


class Commands:
    def __init__(self, reads: Insights) -> None:
        self.reads, self.s, self.rubrics = reads, reads.s, reads.rubrics

    def record_manager_score(
        self,
        identity: str | None,
        *,
        call_id: str,
        dimension: str,
        criterion: str,
        score: int | None,
        reason: str,
    ) -> ManagerScoreRecorded:
        criteria = {c.id for c in self.rubrics.rubrics[dimension].criteria}
        if criterion != "overall" and criterion not in criteria:
            raise InvalidRequest(f"criterion must be 'overall' or one of {sorted(criteria)}")
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            require_role(caller, "manager", "admin")
            rep_id = find_call(conn, caller, call_id)
            if rep_id == caller.id:
                raise AccessDenied("you cannot score your own calls")
            score_id = manager_scores.record(
                conn,
                call_id=call_id,
                rep_id=rep_id,
                reviewer_id=caller.id,
                dimension=dimension,
                criterion=criterion,
                score=score,
                note=reason,
                rubric_version=self.rubrics.rubric_version(dimension),
            )
            name = conn.execute("SELECT name FROM users WHERE id = %s", (rep_id,)).fetchone()
        return ManagerScoreRecorded(
            id=score_id,
            call_id=call_id,
            rep_id=rep_id,
            rep_name=name["name"] if name else None,
            dimension=dimension,
            criterion=criterion,
            score=score,
        )

    # -- analysis requests ------------------------------------------------------------------

    def request_analysis(
        self, identity: str | None, call_id: str, dims: list[str], force: bool
    ) -> tuple[str, str | None, requests.Progress]:
        """('cached' | 'queued' | 'forced', run id, progress now)."""
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            if force:
                require_role(caller, "admin")
            fetched = requests.check_in_scope(conn, self.s, caller, call_id)
            now = requests.progress(conn, call_id, dims)
            if not force and now.done == now.total:
                log_access(conn, caller, "analyze_call", call_id=call_id)
                return "cached", None, now
            if not force:
                requests.queue(conn, caller, call_id, fetched)
                return "queued", None, now
        return "forced", requests.start_forced(self.s, caller, call_id, dims), now

    def analysis_progress(
        self, identity: str | None, call_id: str, dims: list[str]
    ) -> requests.Progress:
        with self.reads.conn() as conn:
            progress = requests.progress(conn, call_id, dims)
            if progress.done == progress.total:
                log_access(conn, self.reads.caller(conn, identity), "analyze_call", call_id=call_id)
            return progress
