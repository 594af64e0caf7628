"""Commands from Claude Desktop: queue an analysis (and follow it), record a manager's score,
dispute a score and resolve a dispute.

They act in the caller's scope through the read side's plumbing (`Insights`: the pool, the
caller's identity) but write through the owners: the outbox (`intake.outbox`, via
`insights.requests`), manager scores (`accuracy.manager_scores`), disputes
(`accuracy.disputes`).
"""

from __future__ import annotations

from threading import Lock

from common.access.scope import find_call, in_scope, refuse_call, require_role
from common.accuracy import disputes, manager_scores
from common.accuracy.disputes import Decision, DisputeList, DisputeOut
from common.errors import AccessDenied, InvalidRequest
from common.gong import GongClient
from common.insights import requests
from common.insights.results import ManagerScoreRecorded
from common.insights.service import Insights, log_access
from common.repnotes import follow_review


class Commands:
    """The commands over the read side's pool; one Gong client for the server, built on the
    first look-up of a call that is not stored yet, spending the company's shared budget."""

    def __init__(self, reads: Insights) -> None:
        self.reads, self.s, self.rubrics = reads, reads.s, reads.rubrics
        self._gong: GongClient | None = None
        self._lock = Lock()

    def gong(self) -> GongClient:
        with self._lock:
            if self._gong is None:
                self._gong = GongClient.from_settings(self.s, self.reads.database)
            return self._gong

    def close(self) -> None:
        with self._lock:
            if self._gong is not None:
                self._gong.close()
                self._gong = None

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
        self._criterion(dimension, criterion)
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
            follow_review(conn, call_id, self.s)  # the rep's note follows the person's word
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

    def _criterion(self, dimension: str, criterion: str) -> None:
        criteria = {c.id for c in self.rubrics.rubrics[dimension].criteria}
        if criterion != "overall" and criterion not in criteria:
            raise InvalidRequest(f"criterion must be 'overall' or one of {sorted(criteria)}")

    def dispute_score(
        self, identity: str | None, *, call_id: str, dimension: str, criterion: str, reason: str
    ) -> DisputeOut:
        """A rep contests a score of their own call; their manager resolves it."""
        self._criterion(dimension, criterion)
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            rep_id = find_call(conn, caller, call_id)
            if rep_id != caller.id:
                raise AccessDenied("you can dispute scores of your own calls only")
            return disputes.open_dispute(
                conn,
                call_id=call_id,
                rep_id=caller.id,
                dimension=dimension,
                criterion=criterion,
                reason=reason,
            )

    def list_disputes(self, identity: str | None, status: str | None) -> DisputeList:
        """Disputes in the caller's scope: a manager's team, a rep's own, everyone's (admins)."""
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            scope = self.reads.teams.visible(conn, caller)
            reps = sorted(scope) if scope is not None else None
            return DisputeList(disputes=disputes.listed(conn, reps, status))

    def resolve_dispute(
        self,
        identity: str | None,
        *,
        dispute_id: int,
        decision: Decision,
        score: int | None,
        reason: str,
    ) -> DisputeOut:
        """A manager upholds the AI's score or overrides it with their own (1-5; an N/A of
        their own is recorded with `record_manager_score`)."""
        if decision == "override" and score is None:
            raise InvalidRequest("overriding needs your score, 1 to 5")
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            require_role(caller, "manager", "admin")
            dispute = disputes.get(conn, dispute_id)  # refused alike: missing or out of scope
            if not in_scope(conn, caller, dispute.rep_id):
                raise InvalidRequest(f"no dispute {dispute_id}")
            if dispute.rep_id == caller.id:
                raise AccessDenied("you cannot resolve disputes of your own calls")
            resolved = disputes.resolve(
                conn,
                dispute_id,
                manager_id=caller.id,
                decision=decision,
                score=score,
                reason=reason,
                rubric_version=self.rubrics.rubric_version(dispute.dimension),
            )
            follow_review(conn, dispute.call_id, self.s)
            return resolved

    def request_analysis(
        self, identity: str | None, call_id: str, dims: list[str], force: bool
    ) -> tuple[str, str | None, requests.Progress]:
        """('cached' | 'queued' | 'forced', run id, progress now). A call the caller may not
        see from what is stored spends one of their paced look-ups (`requests.look_up`),
        taken between two transactions so no pooled connection waits on it or on Gong;
        LookupNotDue when their next one is not due yet."""
        with self.reads.conn() as conn:
            caller = self.reads.caller(conn, identity)
            if force:
                require_role(caller, "admin")
            known, rep_id = requests.local_owner(conn, call_id)
            mine = known and (caller.is_admin or in_scope(conn, caller, rep_id))
        fetched = None
        if not mine:
            db = self.reads.database
            fetched = requests.look_up(self.s, db, caller, call_id, known, self.gong)
        with self.reads.conn() as conn:
            if fetched is not None:
                owner = fetched.metaData.primaryUserId
                if not (caller.is_admin or in_scope(conn, caller, owner)):
                    refuse_call(caller, call_id)
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
