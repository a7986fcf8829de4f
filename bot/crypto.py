"""Secrets at rest (Zalo tokens, PKCE verifiers): Fernet (AES-128-CBC + HMAC) from `cryptography`.

The key comes from ``service.secret_key`` / ``BOT_SECRET_KEY`` (any string; it is stretched with
SHA-256). The embedded default generates one random key once into ``var/secret.key`` (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from bot.private_files import private_dir, private_file


class SecretBox:
    def __init__(self, secret: str) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
        self._fernet = Fernet(key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "cannot decrypt: the secret key changed or the value is corrupt"
            ) from None


def subkey(secret: str, purpose: str) -> bytes:
    """A key for one purpose (signing web chat sessions, hashing addresses) derived from the
    service secret, so no two uses share a key and none of them is the Fernet key."""
    return hmac.new(secret.encode(), b"bot/" + purpose.encode(), hashlib.sha256).digest()


def load_or_create_secret(configured: str | None, var_dir: Path) -> str:
    if configured:
        return configured
    path = var_dir / "secret.key"
    if path.exists():
        private_file(path)  # an older install may have left it readable
        return path.read_text().strip()
    private_dir(var_dir)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
