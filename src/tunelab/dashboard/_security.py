"""Who may talk to the dashboard: Host-header checks and an optional token.

On 127.0.0.1 (the default) only the loopback host names are accepted in the Host header
(a page on another site cannot reach the dashboard by DNS rebinding). Binding to another
address needs a token: requests then carry ``Authorization: Bearer TOKEN`` or
``?token=TOKEN`` once, which sets an HTTP-only cookie for the browser.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

__all__ = ["LOOPBACK_HOSTS", "SecurityPolicy", "is_loopback", "new_token"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_COOKIE = "tunelab_token"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _host_name(header: str) -> str:
    """``example.com:8080`` -> ``example.com``; ``[::1]:80`` -> ``[::1]``."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[: end + 1] if end > 0 else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class SecurityPolicy:
    """The allowed Host names and the token (None: no token needed)."""

    def __init__(self, allowed_hosts: Iterable[str], token: str | None) -> None:
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.token = token

    def host_ok(self, request: Request) -> bool:
        host = _host_name(request.headers.get("host", ""))
        return "*" in self.allowed_hosts or host in self.allowed_hosts

    def token_ok(self, request: Request) -> bool:
        if self.token is None:
            return True
        given = request.cookies.get(_COOKIE) or request.query_params.get("token") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not self.host_ok(request):
            return JSONResponse({"detail": "host not allowed"}, status_code=400)
        if not self.token_ok(request):
            return JSONResponse({"detail": "a token is needed: ?token=... or an "
                                           "Authorization: Bearer header"}, status_code=401)
        if self.token is not None and "token" in request.query_params:
            # Keep the token in a cookie, and out of the address bar and the history.
            url = request.url.remove_query_params("token")
            response: Response = RedirectResponse(str(url), status_code=303)
            response.set_cookie(_COOKIE, self.token, httponly=True, samesite="strict")
            return response
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response
