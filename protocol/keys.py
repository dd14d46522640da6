"""Ed25519 keys: files readable only by their owner, base64 public keys, short fingerprints."""
from __future__ import annotations

import base64
import hashlib
import os
import stat
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyError_(ValueError):
    """A key file or key text that cannot be used (message in English)."""


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private(key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key as PKCS#8 PEM, created with mode 0600; never overwrite an existing key."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


def permissions_problem(path: Path) -> str | None:
    """On POSIX the key must not be readable by group or others (Windows relies on folder ACLs)."""
    if sys.platform == "win32":
        return None
    mode = stat.S_IMODE(Path(path).stat().st_mode)
    if mode & 0o077:
        return f"key file {path} has mode {mode:o}; it must be readable by its owner only (chmod 600)"
    return None


def load_private(path: Path) -> Ed25519PrivateKey:
    path = Path(path)
    if not path.is_file():
        raise KeyError_(f"no key file at {path}")
    problem = permissions_problem(path)
    if problem:
        raise KeyError_(problem)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise KeyError_(f"key file {path} is not a valid PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"key file {path} is not an Ed25519 key")
    return key


def public_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_public(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        raise KeyError_("public key must be 32 bytes of base64") from None


def fingerprint(public_key_b64: str) -> str:
    """What a technician reads aloud to compare: 'K7QF-2M4X-…' (first 100 bits of SHA-256, base32)."""
    digest = hashlib.sha256(base64.b64decode(public_key_b64)).digest()
    text = base64.b32encode(digest).decode("ascii")[:20]
    return "-".join(text[i:i + 4] for i in range(0, 20, 4))


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data)).decode("ascii")


def verify(public_key: Ed25519PublicKey, data: bytes, signature_b64: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), data)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False
