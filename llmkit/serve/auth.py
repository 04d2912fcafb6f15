"""Optional bearer-token auth: every path but the probes (`/health`, `/ready`) needs
`Authorization: Bearer TOKEN`; the comparison takes the same time wherever the tokens differ.
The token is never logged nor echoed."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from llmkit.serve.errors import ApiError, error_response

__all__ = ["OPEN_PATHS", "Auth", "authorized"]

OPEN_PATHS = frozenset({"/health", "/ready"})


def authorized(header: bytes | None, token: bytes) -> bool:
    """Whether an `Authorization` header value carries `token` (constant-time compare)."""
    if header is None:
        return False
    scheme, _, given = header.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)


class Auth:
    """ASGI middleware: 401 for a request without the right bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
            if not authorized(header, self.token):
                refused = ApiError(401, "unauthorized", "missing or wrong bearer token",
                                   {"WWW-Authenticate": "Bearer"})
                await error_response(refused, str)(scope, receive, send)
                return
        await self.app(scope, receive, send)
