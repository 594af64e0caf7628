"""Who is asking, and what they may see.

- `scope`: a caller's scope. A rep sees their own calls, a manager their team (everyone below
  them, transitively, and themselves), an admin everything. Soft-deleted users are hidden from
  non-admins. Lookups by rep (id, email or name) and by call id are answered only inside the
  caller's scope: a refusal reads the same whether the thing exists elsewhere or not at all.
- `tokens`: bearer tokens for the MCP HTTP transport (hashed, expiring, listed, revoked by id).
- `identity`: how a verified credential (our token, or a JWT from the company's identity
  provider) becomes a caller; an identity that maps to no active Gong user gets nothing.
"""

from common.access.scope import (
    Caller,
    find_call,
    find_rep,
    find_reps,
    in_scope,
    load_caller,
    load_caller_by_email,
    require_role,
    visible_reps,
)
from common.access.tokens import (
    TokenInfo,
    caller_for_token,
    create_token,
    list_tokens,
    revoke_token,
    revoke_token_id,
)

__all__ = [
    "Caller",
    "TokenInfo",
    "caller_for_token",
    "create_token",
    "find_call",
    "find_rep",
    "find_reps",
    "in_scope",
    "list_tokens",
    "load_caller",
    "load_caller_by_email",
    "require_role",
    "revoke_token",
    "revoke_token_id",
    "visible_reps",
]
