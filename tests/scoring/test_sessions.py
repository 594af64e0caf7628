from __future__ import annotations

import hashlib

from common.scoring.sessions import cache_key


def test_cache_key_is_the_documented_formula() -> None:
    expected = hashlib.sha256(b"discovery:abc123:1.0.0+kb.ff:s1").hexdigest()
    assert cache_key("discovery", "abc123", "1.0.0+kb.ff", "s1") == expected
    assert cache_key("engagement", "abc123", "1.0.0+kb.ff", "s1") != expected
    assert cache_key("discovery", "abc123", "1.0.1+kb.ff", "s1") != expected
    assert cache_key("discovery", "abc123", "1.0.0+kb.ff", "s2") != expected
