"""Run the dashboard with uvicorn, safely by default."""

from __future__ import annotations

import os
from typing import Any

from tunelab._errors import InvalidArgumentError, require_extra
from tunelab.dashboard._app import create_app
from tunelab.dashboard._security import LOOPBACK_HOSTS, is_loopback, new_token
from tunelab.store import Store

__all__ = ["serve"]


def serve(
    store: Store | str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    allow_remote: bool = False,
    allowed_hosts: list[str] | None = None,
    artifacts: str | os.PathLike[str] | None = None,
    announce: Any = print,
) -> None:
    """Serve the dashboard on ``host:port`` until interrupted.

    Loopback addresses need nothing more. Any other address needs ``allow_remote=True``
    and runs with a token (one is made up and announced when none is given); its Host
    names must be listed in ``allowed_hosts`` (default: the address itself, which for a
    wildcard bind such as 0.0.0.0 matches no browser: give the machine's name).
    """
    if not is_loopback(host):
        if not allow_remote:
            raise InvalidArgumentError(
                f"binding the dashboard to {host!r} exposes it beyond this machine; pass "
                "--allow-remote (a token will be required) or use 127.0.0.1")
        token = token or new_token()
    hosts = set(allowed_hosts or [])
    hosts |= set(LOOPBACK_HOSTS) if is_loopback(host) or not hosts else set()
    if not is_loopback(host) and not allowed_hosts:
        hosts.add(f"[{host}]" if ":" in host else host)  # IPv6 in a Host header: [::1]
    uvicorn: Any = require_extra("uvicorn", "dashboard", "the dashboard")
    app = create_app(store, artifacts=artifacts, token=token, allowed_hosts=hosts)
    shown = f"[{host}]" if ":" in host else host
    suffix = f"/?token={token}" if token else "/"
    announce(f"tunelab dashboard on http://{shown}:{port}{suffix} (Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
