"""HS256 JWTs for the local stack: what the dashboard's identity provider issues in AWS.

The local HTTP API verifies them the way API Gateway's JWT authorizer does (signature, `iss`,
`aud`, `exp`, `nbf`) and hands the handlers the claims. Dev only: the secret is printed on
start, and nothing in the deployed bundle reads these tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or meant for someone else."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(subject: str, *, secret: str, issuer: str, audience: str, ttl_seconds: int = 86_400) -> str:
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": subject, "iss": issuer, "aud": audience, "iat": now, "nbf": now, "exp": now + ttl_seconds}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def verify(token: str, *, secret: str, issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a valid token; InvalidToken otherwise (the reason is for logs, not callers)."""
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(claims_b64))
        signature = _unb64(signature_b64)
    except ValueError:
        raise InvalidToken("malformed") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise InvalidToken("unsupported algorithm")
    expected = hmac.new(secret.encode(), f"{header_b64}.{claims_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad signature")
    now = time.time()
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    if claims.get("iss") != issuer or audience not in audiences:
        raise InvalidToken("wrong issuer or audience")
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now:
        raise InvalidToken("expired")
    if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now + 60:
        raise InvalidToken("not yet valid")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken("no subject")
    return claims


def as_authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
    """API Gateway passes every claim as a string (lists as "[a b]")."""
    return {
        name: "[" + " ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
        for name, value in claims.items()
    }
