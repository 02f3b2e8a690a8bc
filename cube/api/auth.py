"""Who is calling: API keys, OIDC JWTs, or the API Gateway's verified claims; anonymous reads.

One `Authenticator` per app, built from the settings by ``create_app``:

- ``auth_mode="app"`` (``sarcube serve``, Cloud Run, ACA, HPC: no gateway in front):
  ``Authorization: Bearer <key>`` where the SHA-256 (hex) of ``<key>`` is a user's entry in
  ``api_keys`` / ``api_keys_file`` (compared with `hmac.compare_digest`), or
  ``Authorization: Bearer <JWT>`` signed by a key of the issuer's JWKS (found through
  ``<issuer>/.well-known/openid-configuration`` and cached) with the configured ``iss`` and
  ``aud``, not expired; the user is its ``sub``.
- ``auth_mode="gateway"`` (Lambda behind an API Gateway JWT authorizer): the user is the
  ``sub`` of ``requestContext.authorizer.jwt.claims`` in the API Gateway event (Mangum puts
  the event in the ASGI scope as ``aws.event``), or with IAM authorization the caller's
  ``requestContext.authorizer.iam.userArn``. Nothing else is trusted: an
  ``Authorization`` header the gateway did not verify does not count.

Without credentials a request is anonymous. Anonymous requests are refused (401) unless
``allow_anonymous`` is set, and even then only reads pass (GET/HEAD, ``POST /stac/search``,
``POST /zonal``); an anonymous caller never starts a job (`require_owner`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from cube.config import Settings
from cube.errors import CubeError, InputError

if TYPE_CHECKING:
    import jwt

log = logging.getLogger(__name__)

#: Signature algorithms accepted for JWTs (asymmetric only: an HMAC "JWT" signed with a public
#: key must never verify).
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
#: Clock skew tolerated on ``exp``/``nbf``/``iat``, s.
JWT_LEEWAY_S = 30
#: Methods that only read.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: POST routes that only read (a search, a zonal statistic): path endings.
READ_POSTS = ("/search", "/zonal")

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AuthenticationError(CubeError):
    """No valid credentials for what was asked: send ``Authorization: Bearer <key or token>``."""


class QuotaError(CubeError):
    """A user's job quota is used up; retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(int(retry_after_s), 1)


class AuthUnavailableError(CubeError):
    """The identity provider (the JWT issuer's discovery document or JWKS) did not answer."""


@dataclass(frozen=True)
class User:
    """An authenticated caller."""

    name: str
    via: Literal["api_key", "jwt", "gateway"]


def hash_key(key: str) -> str:
    """The SHA-256 (hex) of an API key: what an API keys file holds for it."""
    return hashlib.sha256(key.encode()).hexdigest()


def load_api_keys(settings: Settings) -> dict[str, str]:
    """User → SHA-256 hex of the API key, from ``api_keys`` and ``api_keys_file``.

    InputError naming the user or file if an entry is not 64 hex digits.
    """
    keys = dict(settings.api_keys)
    if settings.api_keys_file:
        path = Path(settings.api_keys_file)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"API keys file {path} does not exist") from None
        except ValueError as exc:
            raise InputError(
                f"API keys file {path} is not JSON ({exc}); write {{\"user\": \"<sha256 hex>\"}}"
            ) from None
        if not isinstance(doc, dict):
            raise InputError(f"API keys file {path} must hold one JSON object {{\"user\": \"<sha256 hex>\"}}")
        keys.update(doc)
    for user, digest in keys.items():
        if not isinstance(digest, str) or not _HEX64.match(digest.lower()):
            raise InputError(
                f"API key of user {user!r} must be the SHA-256 of the key as 64 hex digits "
                "(python -c \"import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())\" "
                "KEY)"
            )
        if not user:
            raise InputError("an API keys entry has an empty user name")
    return {user: digest.lower() for user, digest in keys.items()}


class _Jwks:
    """The JWKS of one OIDC issuer: discovered once, keys cached by PyJWT's `jwt.PyJWKClient`."""

    def __init__(self, issuer: str, audience: str, timeout_s: float = 10.0) -> None:
        self.issuer, self.audience, self.timeout_s = issuer, audience, timeout_s
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def client(self) -> jwt.PyJWKClient:
        import jwt  # PyJWT and cryptography: only where JWTs are configured

        with self._lock:
            if self._client is None:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                try:
                    with urllib.request.urlopen(url, timeout=self.timeout_s) as r:  # noqa: S310
                        doc = json.load(r)
                    jwks_uri = doc["jwks_uri"]
                except (OSError, ValueError, KeyError) as exc:
                    raise AuthUnavailableError(
                        f"the JWT issuer's discovery document {url} is unreachable or has no jwks_uri "
                        f"({exc}); retry later"
                    ) from None
                if doc.get("issuer", self.issuer).rstrip("/") != self.issuer.rstrip("/"):
                    raise AuthUnavailableError(
                        f"{url} names issuer {doc.get('issuer')!r}, not {self.issuer!r}; fix --jwt-issuer"
                    )
                self._client = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=600,
                                               timeout=int(self.timeout_s))
            return self._client

    def verify(self, token: str) -> User:
        import jwt

        try:
            key = self.client().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise AuthUnavailableError(f"the JWT issuer's JWKS is unreachable ({exc}); retry later") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise AuthenticationError(f"the bearer token is not valid: {exc}") from None
        try:
            claims = jwt.decode(
                token, key.key, algorithms=JWT_ALGORITHMS, audience=self.audience, issuer=self.issuer,
                leeway=JWT_LEEWAY_S, options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(f"the bearer token is not valid: {exc}") from None
        return User(str(claims["sub"]), "jwt")


def gateway_user(scope: Mapping[str, Any]) -> User | None:
    """The caller the API Gateway verified, from the event in a Mangum scope.

    The ``sub`` of its JWT authorizer's claims, or the ``userArn`` of its IAM (SigV4) authorization;
    None if neither.
    """
    event = scope.get("aws.event") or {}
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    name = claims.get("sub") or (authorizer.get("iam") or {}).get("userArn")
    return User(str(name), "gateway") if name else None


def is_read(method: str, path: str) -> bool:
    """Whether a request only reads (what anonymous callers may do when allowed)."""
    method = method.upper()
    return method in READ_METHODS or (method == "POST" and path.rstrip("/").endswith(READ_POSTS))


class Authenticator:
    """Identifies callers as the settings say (see the module docstring).

    InputError at construction when the settings are incomplete (a JWT issuer without an
    audience, an API keys file that does not parse).
    """

    def __init__(self, settings: Settings) -> None:
        self.mode = settings.auth_mode
        self.allow_anonymous = settings.allow_anonymous
        self.keys = load_api_keys(settings) if self.mode == "app" else {}
        self.jwks: _Jwks | None = None
        if self.mode == "app" and (settings.jwt_issuer or settings.jwt_audience):
            if not (settings.jwt_issuer and settings.jwt_audience):
                raise InputError("JWTs need both --jwt-issuer and --jwt-audience (SARCUBE_JWT_ISSUER, "
                                 "SARCUBE_JWT_AUDIENCE)")
            self.jwks = _Jwks(settings.jwt_issuer, settings.jwt_audience)
        self.configured = self.mode == "gateway" or bool(self.keys) or self.jwks is not None

    def _key_user(self, key: str) -> User | None:
        digest = hash_key(key)
        found = None
        for user, expected in self.keys.items():  # no early exit: time does not depend on the match
            if hmac.compare_digest(digest, expected):
                found = user
        return User(found, "api_key") if found is not None else None

    def identify(self, headers: Mapping[str, str], scope: Mapping[str, Any]) -> User | None:
        """The caller, None if anonymous; AuthenticationError for credentials that do not verify."""
        if self.mode == "gateway":
            return gateway_user(scope)
        header = headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("send the credentials as 'Authorization: Bearer <API key or token>'")
        if self.jwks is not None and token.count(".") == 2:
            return self.jwks.verify(token)
        user = self._key_user(token)
        if user is None:
            raise AuthenticationError("the bearer API key is not valid; check it, or ask for a new one")
        return user

    def check(
        self, method: str, path: str, headers: Mapping[str, str], scope: Mapping[str, Any]
    ) -> User | None:
        """The caller of a request, after the anonymous rule; AuthenticationError if refused."""
        user = self.identify(headers, scope)
        if user is not None:
            return user
        if not self.allow_anonymous:
            how = ("the API Gateway passed no verified claims" if self.mode == "gateway"
                   else "send 'Authorization: Bearer <API key or token>'")
            raise AuthenticationError(f"authentication required: {how}")
        if not is_read(method, path):
            raise AuthenticationError(
                f"{method} {path} needs an authenticated user (anonymous access is read-only): "
                "send 'Authorization: Bearer <API key or token>'"
            )
        return None


_bearer = HTTPBearer(auto_error=False, description="an API key or an OIDC JWT")


async def check_caller(request: Request) -> User | None:
    """The caller of a request by the app's `Authenticator`: None if anonymous; 401 when refused.

    Also kept as ``request.state.user``. API keys, the gateway's claims and anonymous reads are
    checked on the event loop (no I/O); a JWT in the thread pool (its issuer's keys may have to
    be fetched).
    """
    auth: Authenticator = request.app.state.auth
    args = (request.method, request.url.path, request.headers, request.scope)
    user = auth.check(*args) if auth.jwks is None else await run_in_threadpool(auth.check, *args)
    request.state.user = user
    return user


async def authenticate(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User | None:
    """FastAPI dependency of every route: `check_caller` (the bearer scheme is there for OpenAPI)."""
    return await check_caller(request)


def current_user(request: Request) -> User | None:
    """The caller `authenticate` found for this request."""
    return getattr(request.state, "user", None)


def require_owner(request: Request, *, what: str) -> str:
    """The caller's name, who will own a new job.

    AuthenticationError for anonymous callers (they never start jobs). ``what`` says what was asked,
    for the message.
    """
    user = current_user(request)
    if user is None:
        raise AuthenticationError(
            f"{what} would start a job, and anonymous callers cannot start jobs: authenticate "
            "('Authorization: Bearer <API key or token>'), or narrow the request (bbox, datetime) "
            "so that it needs fewer chunks"
        )
    return user.name


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "detail": detail}, status_code=status, headers=headers)


def _response_of(exc: Exception) -> JSONResponse:
    if isinstance(exc, QuotaError):
        return _error(429, "quota_exceeded", str(exc), {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, AuthUnavailableError):
        return _error(503, "auth_unavailable", str(exc), {"Retry-After": "30"})
    return _error(401, "unauthorized", str(exc), {"WWW-Authenticate": "Bearer"})


def install_auth_errors(app: FastAPI) -> None:
    """401 (``WWW-Authenticate: Bearer``), 429 (``Retry-After``) and 503 answers of this module's errors.

    They are more specific than the CubeError table, so they win.
    """

    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return _response_of(exc)

    for cls in (AuthenticationError, QuotaError, AuthUnavailableError):
        app.add_exception_handler(cls, handler)


class Guarded:
    """An ASGI app (a mounted sub-app such as STAC) behind the same `Authenticator`."""

    def __init__(self, app: Any, auth: Authenticator) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check an HTTP request's caller, then pass it on; answer 401/429/503 if refused."""
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            try:
                user = self.auth.check(scope["method"], scope["path"], headers, scope)
            except (AuthenticationError, AuthUnavailableError) as exc:
                await _response_of(exc)(scope, receive, send)
                return
            scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


__all__ = [
    "AuthUnavailableError",
    "AuthenticationError",
    "Authenticator",
    "Guarded",
    "QuotaError",
    "User",
    "authenticate",
    "check_caller",
    "current_user",
    "gateway_user",
    "hash_key",
    "install_auth_errors",
    "is_read",
    "require_owner",
]
