"""The BSN at rest: AES-GCM ciphertext, plus a keyed hash to find a person registered twice.

One secret is managed: ``CANDIDATES_BSN_KEY`` (base64 of 32 bytes) is the
AES-256-GCM key, and HKDF derives the HMAC-SHA256 key for the hash from it,
so the hash cannot be recomputed from a BSN by anyone without the secret.
Without the variable (``make run`` on a laptop) a key file is made under
``var/`` with mode 0600. Neither the key nor a BSN is ever logged.

Replicas must share the key: every one reads the same ``CANDIDATES_BSN_KEY``
(a Secret in deploy/k8s, set in docker-compose.yml); the key file is shared only
by processes on one machine (made atomically, one key wins), so replicas on
several machines without the variable would each hash and encrypt with their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from werkbrug_shared import config

log = logging.getLogger(__name__)

ENV = "CANDIDATES_BSN_KEY"
KEY_FILE = "candidates-bsn.key"
# first byte of every ciphertext: lets a later key rotation tell formats apart
FORMAT = b"\x01"
NONCE_BYTES = 12


class BsnKeyError(RuntimeError):
    pass


def _decode(raw: str, where: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BsnKeyError(f"{where} is not base64") from None
    if len(key) != 32:
        raise BsnKeyError(f"{where} must hold 32 bytes (base64), not {len(key)}")
    return key


def key_file_secret(directory: Path) -> bytes:
    """The secret in ``directory``'s key file, made (0600) if there is none yet."""
    path = directory / KEY_FILE
    if not path.exists():
        tmp = directory / f".{KEY_FILE}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode())
        try:
            os.link(tmp, path)  # atomic: of two services starting at once, one key wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return _decode(path.read_text(), str(path))


def load_secret(environ=None, directory: Path | None = None) -> bytes:
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV)
    if raw:
        return _decode(raw, ENV)
    directory = directory or config.var_dir()
    log.warning("%s is not set: BSNs are encrypted with the key file %s; set %s in any real installation",
                ENV, directory / KEY_FILE, ENV)
    return key_file_secret(directory)


class BsnVault:
    def __init__(self, secret: bytes):
        if len(secret) != 32:
            raise BsnKeyError("the BSN key must be 32 bytes")
        self._aead = AESGCM(secret)
        self._hash_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"werkbrug/candidates/bsn-dedup"
        ).derive(secret)

    def __repr__(self) -> str:
        return "BsnVault(<secret>)"

    def encrypt(self, bsn: str, candidate_id: str) -> bytes:
        """Bound to the candidate id: a ciphertext copied to another row does not decrypt."""
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT + nonce + self._aead.encrypt(nonce, bsn.encode(), candidate_id.encode())

    def decrypt(self, blob: bytes, candidate_id: str) -> str:
        if blob[:1] != FORMAT:
            raise BsnKeyError("unknown BSN ciphertext format")
        nonce, sealed = blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:]
        return self._aead.decrypt(nonce, sealed, candidate_id.encode()).decode()

    def digest(self, bsn: str) -> str:
        """Stable for the same BSN and secret: what the unique index compares."""
        return hmac.new(self._hash_key, bsn.encode(), hashlib.sha256).hexdigest()


@cache
def vault() -> BsnVault:
    """The process's vault, from the environment or the key file (warned about once)."""
    return BsnVault(load_secret())
