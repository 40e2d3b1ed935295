"""Google credentials for the Postmaster Tools API: loaded with google-auth, refreshed in a
thread (google-auth's transports are synchronous), presented as a Bearer token.

A service-account key gets its token with the JWT-bearer grant, an authorized-user file
with its refresh token; both POST to the ``token_uri`` of the credentials file. Nothing
here logs or returns the file's content, the assertion or the token in an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import google.auth.exceptions
import google.auth.transport
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from monitor.config.telemetry import https_url
from monitor.model.errors import ConfigError, MonitorError

__all__ = [
    "POSTMASTER_SCOPE",
    "GoogleTokenSource",
    "TokenError",
    "TokenSource",
    "load_google_credentials",
]

# The v2 scope covering domainStats.query, domainStats:batchQuery and getComplianceStatus
# (read-only; domains.list/get would need the write-capable postmaster.domain scope).
POSTMASTER_SCOPE = "https://www.googleapis.com/auth/postmaster.traffic.readonly"
_TIMEOUT = 30.0
# Credentials loaded, by the SHA-256 of their file's content: parsing a private key costs
# tens of milliseconds, and a reload that keeps the file should keep the token too.
_LOADED: dict[str, Any] = {}
_LOADED_MAX = 8


class TokenError(MonitorError):
    """No token: ``refused`` when the token endpoint said no (bad key, revoked grant),
    otherwise it could not be reached. The message never carries a secret."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


class TokenSource(Protocol):
    async def token(self, *, force: bool = False) -> str: ...


class _Credentials(Protocol):
    token: str | None

    @property
    def valid(self) -> bool: ...

    def refresh(self, request: google.auth.transport.Request) -> None: ...


def load_google_credentials(setting: str, *, key: str = "telemetry.gmail.credentials") -> Any:
    """The credentials a ``credentials`` setting names: a file path, or ``env:NAME`` holding
    the file's JSON content.

    Raises:
        ConfigError: unreadable, not JSON, or neither kind of credentials (no content shown).
    """
    if setting.startswith("env:"):
        text = os.environ.get(setting[4:])
        if not text:
            raise ConfigError([f"{key}: environment variable {setting[4:]} is not set or empty"])
        where = f"environment variable {setting[4:]}"
    else:
        try:
            text = Path(setting).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{key}: cannot read {setting}: {type(exc).__name__}"]) from None
        where = setting
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest in _LOADED:  # a reload with the same file: same credentials, token kept
        return _LOADED[digest]
    try:
        info = json.loads(text)
    except ValueError:
        raise ConfigError([f"{key}: {where} is not JSON"]) from None
    if not isinstance(info, dict):
        raise ConfigError([f"{key}: {where} is not a JSON object"])
    credentials = _from_info(info, key=key, where=where)
    while len(_LOADED) >= _LOADED_MAX:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[digest] = credentials
    return credentials


def _from_info(info: Mapping[str, Any], *, key: str, where: str) -> Any:
    kind = info.get("type")
    token_uri = info.get("token_uri")
    if token_uri is not None:
        # The refresh token, the client secret or the signed assertion go there.
        try:
            https_url(token_uri if isinstance(token_uri, str) else "")
        except ValueError:
            raise ConfigError(
                [f"{key}: {where} has a token_uri that is not https (http only to a loopback host)"]
            ) from None
    try:
        if kind == "service_account":
            return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[POSTMASTER_SCOPE]
            )
        if kind == "authorized_user":
            creds = user_credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                info, scopes=[POSTMASTER_SCOPE]
            )
            # google-auth always uses Google's endpoint for these; the file's token_uri wins.
            token_uri = info.get("token_uri")
            return creds.with_token_uri(token_uri) if isinstance(token_uri, str) else creds
    except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError):
        # The library's message may quote the key material: name the problem only.
        raise ConfigError([f"{key}: {where} is not a complete {kind} credentials file"]) from None
    raise ConfigError(
        [f'{key}: {where} has type {kind!r}; expected "service_account" or "authorized_user"']
    )


class _Response(google.auth.transport.Response):
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status, self._headers, self._data = status, dict(headers), data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class _UrllibRequest(google.auth.transport.Request):
    """google-auth's transport interface over the standard library (runs in a thread).

    google-auth's own transports need ``requests`` or ``urllib3``; the token endpoint is
    one form POST an hour, which urllib does as well.
    """

    last_status: int | None = None  # of the last answer: 200 with an error is a bad answer

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        if not url.startswith(("https://", "http://")):
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                "token_uri is not an http(s) URL"
            )
        req = urllib.request.Request(  # noqa: S310 -- scheme checked above
            url, data=body, method=method, headers=dict(headers or {})
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout or _TIMEOUT) as answer:  # noqa: S310
                self.last_status = answer.status
                return _Response(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as exc:
            self.last_status = exc.code
            return _Response(exc.code, dict(exc.headers or {}), exc.read())
        except (OSError, ValueError) as exc:
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                type(exc).__name__
            ) from None


class GoogleTokenSource:
    """A valid access token from google-auth credentials, refreshed when due (or forced)."""

    def __init__(self, credentials: _Credentials) -> None:
        self._creds = credentials
        self._lock = asyncio.Lock()

    async def token(self, *, force: bool = False) -> str:
        async with self._lock:
            if force or not self._creds.valid or not self._creds.token:
                await asyncio.to_thread(self._refresh)
            token = self._creds.token
            if not isinstance(token, str) or not _usable(token):
                # An answer without a usable access_token is the endpoint's fault, not a
                # refusal of the credentials: "unavailable", not "verify the domain".
                raise TokenError("the token endpoint returned no usable token", refused=False)
            return token

    def _refresh(self) -> None:
        request = _UrllibRequest()
        try:
            self._creds.refresh(request)
        except google.auth.exceptions.RefreshError as exc:
            # Refused is a client error answer (400 invalid_grant, 401 invalid_client);
            # a 200 google-auth cannot use (no access_token), a 5xx, a 429 or no answer is
            # the endpoint's fault, whatever google-auth thinks worth retrying.
            status = request.last_status
            client_error = status is not None and 400 <= status < 500 and status != 429
            retryable = bool(getattr(exc, "retryable", False)) or not client_error
            raise TokenError(
                "the token endpoint refused the credentials"
                if not retryable
                else "the token endpoint failed",
                refused=not retryable,
            ) from None
        except google.auth.exceptions.GoogleAuthError as exc:
            raise TokenError(
                f"the token endpoint could not be reached ({type(exc).__name__})", refused=False
            ) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # google-auth reading an answer of the wrong shape: a JSON array, an expires_in
            # that is no number.
            raise TokenError(
                f"the token endpoint's answer is not usable ({type(exc).__name__})", refused=False
            ) from None


def _usable(token: object) -> bool:
    """A bearer token that can go into a header: visible ASCII, no space, CR or LF."""
    return (
        isinstance(token, str)
        and bool(token)
        and token.isascii()
        and token.isprintable()
        and " " not in token
    )
