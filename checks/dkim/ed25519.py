"""Ed25519 public-key validation (RFC 8032 §5.1.3 point decoding), no crypto library needed.

dkimpy verifies Ed25519 through PyNaCl, an optional dependency we do not install; a key
record check only needs to know whether the 32 bytes are a point on the curve.
"""

from __future__ import annotations

__all__ = ["ED25519_KEY_BYTES", "is_ed25519_point"]

ED25519_KEY_BYTES = 32
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_MINUS_ONE = pow(2, (_P - 1) // 4, _P)


def is_ed25519_point(key: bytes) -> bool:
    """Whether ``key`` is the 32-byte encoding of a point on edwards25519 (RFC 8032 §5.1.3)."""
    if len(key) != ED25519_KEY_BYTES:
        return False
    number = int.from_bytes(key, "little")
    sign = number >> 255
    y = number & ((1 << 255) - 1)
    if y >= _P:
        return False
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    # Candidate root x = u v^3 (u v^7)^((p-5)/8); it is a square root of u/v up to a factor i.
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    vxx = v * x * x % _P
    if vxx == (-u) % _P:
        x = x * _SQRT_MINUS_ONE % _P
    elif vxx != u:
        return False
    return not (x == 0 and sign == 1)
