"""Pseudonymous references: keyed HMAC-SHA256 of internal ids.

    ref = PREFIX + "-" + hex(HMAC-SHA256(key, kind + ":" + internal_id))[:20]

The key comes from the environment (FAMILYHUB_PSEUDONYM_KEY, read by Dagster as an EnvVar): without it
a reference cannot be recomputed from an id, and changing it re-keys every reference at once. The kind
is part of the message so a family and a person with the same internal id get unrelated references.
80 bits of the digest keep collisions out of reach at council scale (~1e-12 for a million ids).
A family's reference in the returns is computed here once, then carried across quarters by the register in
returns/family_refs.py (the internal family id can change under a later delivery; the reference must not).

The demo has no secret store: `load_or_create_key` generates a random key once and keeps it under the data
folder (data/secrets/), which is git-ignored. Production sets the environment variable instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path

KINDS = {"family": "FAM", "person": "PER", "case": "CASE", "practitioner": "LP", "event": "EVT"}
DIGEST_CHARS = 20
MIN_KEY_BYTES = 16
ENV_VAR = "FAMILYHUB_PSEUDONYM_KEY"
DEMO_KEY_FILE = Path("secrets") / "pseudonym_demo.key"


class PseudonymKeyError(ValueError):
    pass


def key_bytes(key: str) -> bytes:
    """The key as bytes; too short a key is refused (the message never shows it)."""
    raw = (key or "").strip().encode("utf-8")
    if len(raw) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"{ENV_VAR} must be at least {MIN_KEY_BYTES} characters")
    return raw


def ref_pattern(kind: str) -> str:
    return rf"^{KINDS[kind]}-[0-9a-f]{{{DIGEST_CHARS}}}$"


class Pseudonymiser:
    def __init__(self, key: str):
        self._key = key_bytes(key)

    def ref(self, kind: str, internal_id: object) -> str | None:
        if internal_id is None:
            return None
        message = f"{kind}:{internal_id}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()
        return f"{KINDS[kind]}-{digest[:DIGEST_CHARS]}"

    def refs(self, kind: str, internal_ids: Iterable[object]) -> list[str | None]:
        return [self.ref(kind, i) for i in internal_ids]

    def key_fingerprint(self) -> str:
        """Says which key made a return (for the manifest) without revealing it."""
        return hashlib.sha256(b"fingerprint:" + self._key).hexdigest()[:12]


def demo_key_path(data_dir: Path) -> Path:
    return Path(data_dir) / DEMO_KEY_FILE


def load_or_create_key(path: Path) -> str:
    """The demo's generated key, created on first use (owner-only permissions) and read from then on."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()
