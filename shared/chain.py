"""The rating chain's link rule (好差评 tamper evidence), shared by the ratings service that writes the chain and
central, which checks it from the events alone.

Each entry of a site's chain has ``digest = sha256(canonical entry)`` (computed in the site, where the whole entry —
free text included — lives) and ``hash = sha256(prev_hash + digest)``. Events carry ``chain_seq``, ``chain_prev``,
``chain_digest`` and ``chain_hash``: enough for anyone holding the events to check every link and the order
(``link_hash``), without any personal data or text leaving the site. A site that rewrites an entry after its event
went out can no longer produce a chain that agrees with the hashes central already holds.
"""

from __future__ import annotations

import hashlib

GENESIS = "0" * 64  # the "previous hash" of entry 1


def digest(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def link_hash(prev_hash: str, entry_digest: str) -> str:
    """sha256(prev_hash + entry_digest), hex: an entry's place in the chain."""
    return hashlib.sha256((prev_hash + entry_digest).encode()).hexdigest()
