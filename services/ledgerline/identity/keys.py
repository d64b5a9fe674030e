"""Signing keys: Ed25519 pairs made and stored encrypted (PKCS#8), and access tokens signed with
PyJWT (EdDSA). Nothing cryptographic is written here by hand; this module only wires libraries."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from ledgerline.identity.domain import SigningKey

ALGORITHM = "EdDSA"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key as the repository holds it: the public schedule and the sealed private half."""

    key: SigningKey
    private_key_pem: bytes


class KeyVault:
    """Seals private keys with the key-encryption secret and signs with them.

    Opened private keys are cached by `kid`: a kid's key never changes, and opening one costs
    a deliberate key derivation.
    """

    def __init__(self, key_encryption_secret: str) -> None:
        self._secret = key_encryption_secret.encode()
        self._opened: dict[str, Ed25519PrivateKey] = {}

    def generate(self, now: datetime, activates_at: datetime) -> StoredKey:
        private_key = Ed25519PrivateKey.generate()
        kid = f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        public_jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(private_key.public_key()))
        sealed = private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.BestAvailableEncryption(self._secret),
        )
        self._opened[kid] = private_key
        return StoredKey(SigningKey(kid, ALGORITHM, public_jwk, now, activates_at), sealed)

    def sign(self, stored: StoredKey, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self._open(stored),
            algorithm=ALGORITHM,
            headers={"kid": stored.key.kid, "typ": "at+jwt"},
        )

    def _open(self, stored: StoredKey) -> Ed25519PrivateKey:
        kid = stored.key.kid
        if kid not in self._opened:
            private_key = serialization.load_pem_private_key(stored.private_key_pem, password=self._secret)
            if not isinstance(private_key, Ed25519PrivateKey):
                raise TypeError(f"signing key {kid} is not Ed25519")
            self._opened[kid] = private_key
        return self._opened[kid]
