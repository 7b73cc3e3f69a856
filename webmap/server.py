"""`gridwalk serve`: the app under gunicorn, as it runs for real (behind nginx for HTTPS).

Each worker process builds its own app, and so its own database pool: no connection is
shared across a fork. Threads serve the requests of one worker, since most of a request's
time is spent waiting for PostgreSQL. SIGHUP reloads the workers one by one without
dropping requests; SIGTERM lets running requests finish first."""

from __future__ import annotations

import os
import secrets
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from webmap import assets
from webmap.basemaps import ConfigError


def default_workers() -> int:
    """One process per core and one more, so a core is never idle while a worker waits on
    a slow client; at least two, so one may restart while the other serves."""
    return max(2, (os.cpu_count() or 1) + 1)


# Gunicorn's access log, with the time each request took (%(M)s: milliseconds).
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'


class Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, make_app: Any, options: dict[str, Any]) -> None:
        self.make_app = make_app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.make_app()  # type: ignore[no-any-return]


def options(host: str, port: int, workers: int, threads: int, timeout: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        # A request stuck this long (a runaway query) is killed and its worker replaced.
        "timeout": timeout,
        "graceful_timeout": 30,
        "keepalive": 5,
        # A worker is replaced after this many requests, so a slow leak never grows.
        "max_requests": 5000,
        "max_requests_jitter": 500,
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "proc_name": "gridwalk",
    }


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 for every interface (put nginx in front).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=default_workers, show_default="cores + 1",
              help="Processes.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Threads per process.")
@click.option("--timeout", type=click.IntRange(5, 3600), default=60, show_default=True,
              help="Seconds before a stuck request's worker is replaced.")
@click.pass_obj
def serve_command(script_info: Any, host: str, port: int, workers: int, threads: int, timeout: int) -> None:
    """Serve Gridwalk under gunicorn: for production, behind nginx."""
    if not os.environ.get("SECRET_KEY"):
        # Every worker must sign sessions with the same key, or a login made through one
        # worker is unknown to the next: one key for this run, inherited by the workers.
        os.environ["SECRET_KEY"] = secrets.token_hex(32)
        click.echo("SECRET_KEY is not set: logins end when the server restarts. Set it to keep them.",
                   err=True)
    # Checked once here, in the master, which serves nothing: each worker builds its own app.
    try:
        app = script_info.load_app()
    except ConfigError as error:  # a basemap that cannot work: said before anything serves
        raise click.ClickException(str(error)) from None
    assets.require(app)
    if not app.config["DATABASE_URL"]:
        raise click.ClickException("DATABASE_URL is not set: point it at a PostGIS database")
    Server(script_info.create_app, options(host, port, workers, threads, timeout)).run()
