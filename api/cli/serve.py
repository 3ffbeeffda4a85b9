"""`emgis serve` and `emgis token create/list/revoke`, registered on the `emgis` app
(`emgis.api.cli`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from emgis.api.cli.base import _report_input_error, _settings, app, console, err
from emgis.layers.problems import InputError

token_app = typer.Typer(help="API tokens: writes over HTTP need one "
                             "(roles: viewer < reporter < planner < commander < admin).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(
        help="address to listen on (default EMGIS_API_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default EMGIS_API_PORT or 8000)")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="worker processes (default EMGIS_API_WORKERS or 1); "
                    "up to one per core")] = None,
) -> None:
    """Run the HTTP API (layers as OGC API – Features, incidents, analyses) until Ctrl-C or
    SIGTERM; a database it started is stopped again."""
    import uvicorn

    from emgis.api.http.app import create_app
    from emgis.layers.db import open_database, stop_if_unused
    from emgis.layers.settings import ApiSettings

    dbs, _ = _settings()
    api = ApiSettings()
    host = host or api.host
    port = port or api.port
    workers = workers or api.workers
    # The server stops the database it started (SIGTERM too: main() turns it into SystemExit),
    # unless other sessions still use it; one started by `emgis db start` keeps running.
    with open_database(dbs, keep_running=True) as db:
        try:
            console.print(f"emgis API on [bold]http://{host}:{port}/[/] "
                          f"(OpenAPI: /openapi.json, docs: /docs); live map: "
                          f"[bold]http://{host}:{port}/maps/live[/]"
                          f"{f', {workers} workers' if workers > 1 else ''}; Ctrl-C stops it")
            if workers > 1:  # each worker process builds its own app and engine from the env
                os.environ.update(EMGIS_DATABASE_URL=db.url, EMGIS_HOME=str(dbs.home))
                uvicorn.run("emgis.api.http.app:create_app", factory=True, host=host,
                            port=port, workers=workers, log_level="info")
            else:
                uvicorn.run(create_app(api, engine=db.engine, db_settings=dbs), host=host,
                            port=port, log_level="info")
        finally:
            if db.started and not stop_if_unused(db):
                err.print("the database emgis started is left running: other sessions use it "
                          "(`emgis db stop` stops it)")


def _engine_do(fn):
    from emgis.layers.db import open_database

    dbs, _ = _settings()
    with open_database(dbs) as db:
        return fn(db.engine)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(
        help="who or what uses the token; the audit log records this name")],
    role: Annotated[str, typer.Option(
        help="viewer, reporter, planner, commander or admin")] = "viewer",
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from emgis.api.http.auth import create_token

    try:
        token = _engine_do(lambda e: create_token(e, name, role))
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    err.print(f"token [bold]{name}[/] ({role}) created; it is shown once, keep it safe. Use it as "
              "'Authorization: Bearer <token>'.")
    print(token)


@token_app.command("list")
def token_list() -> None:
    """List the tokens (names, roles, revoked or not; never the tokens)."""
    from emgis.api.http.auth import list_tokens

    rows = _engine_do(list_tokens)
    t = Table("name", "role", "created", "revoked")
    for r in rows:
        t.add_row(r["name"], r["role"], f"{r['created_at']:%Y-%m-%d %H:%M}",
                  "yes" if r["revoked"] else "")
    console.print(t)


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from emgis.api.http.auth import revoke_token

    if not _engine_do(lambda e: revoke_token(e, name)):
        err.print(f"[red]error[/]: there is no token named {name!r}; `emgis token list` shows them")
        raise typer.Exit(1)
    console.print(f"token {name} revoked")
