"""Scoring calls with Claude: the service, its scorer, claims, ledger and batch path.

- `service.ScoringService`: the one object flows and tools use (prepare, plan, score,
  score_batch), built once from settings.
- `model`: the prepared call, outcomes, the prefix gate, the cost estimate.
- `scorer.Scorer`: one dimension of one call, chunk by chunk, paid for at most once.
- `claims`: who may pay for a chunk (leases in `scoring_work`), and what was paid already.
- `ledger`: paid responses recorded durably, exactly once (journal, then Postgres).
- `batches`: the Message Batches path at half price.
"""

from common.scoring.applicability import Applicability
from common.scoring.applicability import load as load_applicability
from common.scoring.gate import scoring_version_for
from common.scoring.reliability import publishing, run_to_run
from common.scoring.sessions import analysed, current_for_call

__all__ = [
    "Applicability",
    "analysed",
    "current_for_call",
    "load_applicability",
    "publishing",
    "run_to_run",
    "scoring_version_for",
]
