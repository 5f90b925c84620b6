"""Hashes that are the same on every machine, process and Python version."""

from __future__ import annotations

import hashlib


def stable_hash(clip_id: str) -> int:
    """A 64-bit hash of ``clip_id`` that is the same on every machine and Python version."""
    return int.from_bytes(hashlib.blake2b(clip_id.encode("utf-8"), digest_size=8).digest(), "big")
