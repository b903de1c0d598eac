"""`tunelab dashboard`: the web UI over a store."""

from __future__ import annotations

import click

from tunelab.cli._main import _store, cli, store_option

__all__ = ["dashboard"]


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs --allow-remote.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host; every request then needs the token.")
@click.option("--token", default=None, envvar="TUNELAB_DASHBOARD_TOKEN",
              help="Token for --allow-remote [a random one, printed].")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Host-header name browsers use to reach it (repeatable) [the --host].")
@click.option("--artifacts", default=None, type=click.Path(file_okay=False),
              help="The studies' artifact folder, if not the default.")
@store_option
@click.pass_context
def dashboard(ctx: click.Context, host: str, port: int, allow_remote: bool,
              token: str | None, allowed_hosts: tuple[str, ...], artifacts: str | None,
              store: str | None) -> None:
    """Serve the dashboard (studies, trials, plots, comparisons; live while studies
    run) and its read-only JSON API (docs at /api/docs)."""
    from tunelab.dashboard import serve

    serve(_store(ctx, store), host=host, port=port, token=token, allow_remote=allow_remote,
          allowed_hosts=list(allowed_hosts) or None, artifacts=artifacts,
          announce=lambda line: click.echo(line, err=True))
