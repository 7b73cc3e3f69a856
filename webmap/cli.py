"""The `gridwalk` command: `gridwalk serve` (gunicorn, for production), Flask's development
server (`gridwalk run --port P`), the database, demo, import, user and token commands. Each command owns its transaction."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from flask.cli import run_command as flask_run
from flask_babel import gettext
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import accounts, audit, county_archive, demo, directory, households, imports, notify, sheets
from geo.errors import GridwalkError
from geo.models import AREA_LEVELS, ROLES
from geo.scope import Scope
from webmap import assets, create_app, db
from webmap.i18n import message
from webmap.names import outcome_names, sheet_summary
from webmap.server import serve_command

# A link to the top-level migrations/ in a checkout, the files themselves in a wheel.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False)
def main() -> None:
    """Gridwalk: who is responsible for every grid, compound and building of a county."""


class _CheckedRun(click.Command):
    """Flask's development server, refusing to start where the map would be blank."""

    def invoke(self, ctx: click.Context) -> Any:
        assets.require(ctx.ensure_object(ScriptInfo).load_app())
        return super().invoke(ctx)


main.add_command(_CheckedRun("run", params=flask_run.params, callback=flask_run.callback,
                             help=flask_run.help, short_help=flask_run.short_help))
main.add_command(serve_command)


def init_app(app: Flask) -> None:
    for command in (db_group, demo_command, import_group, export_group, households_group, users_group,
                    tokens_group, notify_group):
        app.cli.add_command(command)


def _session() -> Session:
    """The command's session; its writes are logged as made from the command line."""
    session = db.session()
    audit.set_actor(session, user_id=None, username=getpass.getuser(), via="cli")
    return session


def _fail(error: GridwalkError) -> NoReturn:
    raise click.ClickException(message(error))


# --- database ---------------------------------------------------------------------------


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


def _alembic_config() -> Any:
    from alembic.config import Config
    from flask import current_app

    url = current_app.config["DATABASE_URL"]
    if not url:
        raise click.ClickException("DATABASE_URL is not set: point it at a PostGIS database")
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from alembic import command

    command.upgrade(_alembic_config(), revision)


@db_group.command("current")
@with_appcontext
def db_current() -> None:
    """Show the database's revision."""
    from alembic import command

    command.current(_alembic_config())


# --- demo -------------------------------------------------------------------------------


@click.command("demo")
@click.option("--scale", type=click.IntRange(1, 200), default=1, show_default=True,
              help="Multiply the demo county's size (for benchmarks).")
@click.option("--if-empty", is_flag=True, help="Do nothing if the demo county is already loaded.")
@with_appcontext
def demo_command(scale: int, if_empty: bool) -> None:
    """Load the deterministic demo county (宣恩县's county seat, modelled)."""
    session = _session()
    if demo.is_loaded(session):
        if if_empty:
            click.echo("demo county already loaded; keeping it")
            return
        raise click.ClickException("the demo county is already loaded (use a fresh database)")
    password = os.environ.get("GRIDWALK_PASSWORD") or "gridwalk-demo"
    started = time.monotonic()
    with click.progressbar(length=100, label="loading the demo county", file=sys.stderr) as bar:
        def progress(done: float) -> None:
            bar.update(max(0, int(done * 100) - bar.pos))

        summary = demo.load(session, scale=scale, password=password, progress=progress)
    audit.record(session, "load", "demo", after={"scale": scale, **summary})
    session.commit()
    click.echo(f"demo county loaded in {time.monotonic() - started:.1f} s:")
    for name, count in summary.items():
        click.echo(f"  {name:>16}: {count:,}")


# --- imports ----------------------------------------------------------------------------


@click.group("import")
def import_group() -> None:
    """Import polygons from GeoJSON, Shapefile (.shp or .zip), GeoPackage, KML or CSV, and
    units, people, households and assignments from spreadsheets (.xlsx or .csv)."""


def _report(report: imports.ImportReport) -> None:
    seconds = round(report.seconds, 1)
    click.echo(gettext(
        "%(accepted)s accepted (%(created)s new, %(updated)s updated), %(rejected)s rejected, in %(seconds)s s",
        accepted=report.accepted, created=report.created, updated=report.updated,
        rejected=len(report.rejected), seconds=seconds,
    ))
    if report.waiting:
        click.echo(gettext(
            "%(count)s buildings are not yet in a grid: they join their grids when the grids are "
            "imported or drawn", count=report.waiting,
        ))
    if report.moved:
        click.echo(gettext("%(count)s buildings moved into the areas imported", count=report.moved))
    for rejection in report.rejected:
        click.echo(gettext("  rejected %(label)s: %(reason)s", label=rejection.label,
                           reason=message(rejection.error)), err=True)


def _file_options(command: Any) -> Any:
    """The options every GIS import shares: which layer, which text encoding, which datum."""
    command = click.option(
        "--from", "datum", type=click.Choice(["wgs84", "gcj02"]), default="wgs84", show_default=True,
        help="Datum of the coordinates; gcj02 for AMap/DataV/Tencent data.")(command)
    command = click.option(
        "--encoding", help="Text encoding of the attributes, e.g. GBK for a Shapefile without a .cpg.")(command)
    command = click.option(
        "--layer", help="The layer to read, when a GeoPackage (or zip) holds several.")(command)
    return command


def _progress_bar(label: str):  # type: ignore[no-untyped-def]
    return click.progressbar(length=1, label=label, file=sys.stderr)


@import_group.command("areas")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--level", type=click.Choice(AREA_LEVELS), required=True)
@click.option("--parent", "parent_code", help="Code of the parent area (default: found by location).")
@click.option("--id-field", help="Property holding each area's code (default: the feature id).")
@click.option("--name-field", default="name", show_default=True, help="Property holding each area's name.")
@_file_options
@with_appcontext
def import_areas_command(
    file: Path, level: str, parent_code: str | None, id_field: str | None, name_field: str, datum: str,
    layer: str | None, encoding: str | None,
) -> None:
    """Import area polygons of one LEVEL from FILE; buildings waiting for them move in."""
    session = _session()
    try:
        features = imports.read_path(file, layer=layer, encoding=encoding)
        with _progress_bar(f"importing {level} areas") as bar:
            report = imports.import_areas(
                session, features, level=level, parent_code=parent_code, id_field=id_field,
                name_field=name_field, datum=datum, progress=_bar_progress(bar),
            )
    except GridwalkError as error:
        session.rollback()
        _fail(error)
    _audit_import(session, "areas", file, report, level=level)
    session.commit()
    _report(report)


def _audit_import(session: Session, table: str, file: Path, report: imports.ImportReport, **options: str) -> None:
    # Bulk writes pass the ORM by, so the import is logged as one entry.
    audit.record(session, "import", table, after={
        "file": file.name, **options, "created": report.created, "updated": report.updated,
        "rejected": len(report.rejected), "waiting": report.waiting, "moved": report.moved,
    })


@import_group.command("buildings")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id-field", help="Property holding each building's source id (default: the feature id).")
@click.option("--name-field", default="name", show_default=True, help="Property holding each building's name.")
@_file_options
@with_appcontext
def import_buildings_command(
    file: Path, id_field: str | None, name_field: str, datum: str, layer: str | None, encoding: str | None
) -> None:
    """Import building footprints from FILE; each joins the innermost area holding it (its
    compound or grid; until those exist, its community, township or the county)."""
    session = _session()
    try:
        features = imports.read_path(file, layer=layer, encoding=encoding)
        with _progress_bar("importing buildings") as bar:
            report = imports.import_buildings(
                session, features, id_field=id_field, name_field=name_field, datum=datum,
                progress=_bar_progress(bar),
            )
    except GridwalkError as error:
        session.rollback()
        _fail(error)
    _audit_import(session, "buildings", file, report)
    session.commit()
    _report(report)


@import_group.command("county")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_county_command(file: Path) -> None:
    """Load a whole county from FILE (made by `gridwalk export county`) into this database,
    which must be new: migrated to the archive's schema revision and holding no records."""
    session = _session()
    started = time.monotonic()
    try:
        counts = county_archive.import_(session, file, progress=_table_done)
    except GridwalkError as error:
        session.rollback()
        _fail(error)
    audit.record(session, "import", "county_archive", after={"file": file.name, **counts})
    session.commit()
    click.echo(f"imported {sum(counts.values())} rows in {len(counts)} tables from {file.name} "
               f"in {time.monotonic() - started:.1f} s")
    if not county_archive.read_password_hashes(file):
        click.echo("the archive has no password hashes: set each login's password with "
                   "`gridwalk users password NAME`", err=True)


def _table_done(table: str, rows: int) -> None:
    click.echo(f"  {table:<18} {rows:>9} rows", err=True)


@click.group("export")
def export_group() -> None:
    """Write the county out."""


@export_group.command("county")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--with-password-hashes", is_flag=True,
              help="Keep the logins' password hashes (by default they are left out).")
@with_appcontext
def export_county_command(file: Path, with_password_hashes: bool) -> None:
    """Write every table of the county to the ZIP archive FILE (see geo/county_archive.py)."""
    session = _session()
    started = time.monotonic()
    partial = file.with_name(file.name + ".part")
    try:
        # Read in one snapshot, so the tables agree with each other while people keep working.
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        manifest = county_archive.export(session, partial, with_password_hashes=with_password_hashes,
                                         progress=_table_done)
    except GridwalkError as error:
        partial.unlink(missing_ok=True)
        _fail(error)
    finally:
        session.rollback()
    partial.replace(file)
    rows = sum(t["rows"] for t in manifest["tables"].values())
    click.echo(f"exported {rows} rows in {len(manifest['tables'])} tables to {file} "
               f"in {time.monotonic() - started:.1f} s")


def _bar_progress(bar: Any) -> Any:
    def progress(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - bar.pos)

    return progress


# --- spreadsheets -----------------------------------------------------------------------


def _sheet_report(report: sheets.SheetReport) -> None:
    names = outcome_names()
    for row in report.accepted:
        click.echo(gettext("  row %(row)s: %(label)s (%(outcome)s)", row=row.row, label=row.label,
                           outcome=names[row.outcome]))
    for refusal in report.refused:
        click.echo(gettext("  refused row %(row)s %(label)s: %(reason)s", row=refusal.row, label=refusal.label,
                           reason=message(refusal.error)), err=True)
    if report.ignored_headers:
        click.echo(gettext("columns not read: %(headers)s", headers="、".join(report.ignored_headers)))
    click.echo(sheet_summary(report))


def _sheet_command(kind: str) -> Any:
    @import_group.command(
        kind, help=f"Import {kind} from a spreadsheet FILE (.xlsx or .csv) laid out as the template "
                   f"(`gridwalk import template {kind} OUT.xlsx`).")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
    @click.option("--sheet", "sheet_name", help="The sheet to read (default: the first that is not 说明).")
    @click.option("--skip-bad", is_flag=True,
                  help="Write the accepted rows even if some are refused (default: then write nothing).")
    @with_appcontext
    def command(file: Path, dry_run: bool, sheet_name: str | None, skip_bad: bool) -> None:
        session = _session()
        try:
            report = sheets.import_sheet(session, Scope.system(), kind, sheets.read_path(file, sheet_name),
                                         write=not dry_run, skip_bad=skip_bad)
        except GridwalkError as error:
            session.rollback()
            _fail(error)
        if report.written:
            sheets.log_import(session, report, file.name, skip_bad=skip_bad)
            session.commit()
        else:
            session.rollback()
        _sheet_report(report)
        if dry_run:
            click.echo(gettext("dry run: nothing was written"))
        elif not report.written:
            raise click.ClickException(gettext(
                "nothing was written: %(refused)s rows were refused; correct them, or write the accepted "
                "rows with --skip-bad", refused=len(report.refused)))

    return command


for _kind in sheets.KINDS:
    _sheet_command(_kind)


@import_group.command("template")
@click.argument("kind", type=click.Choice(sheets.KINDS))
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def import_template(kind: str, out: Path) -> None:
    """Write the spreadsheet template for KIND to OUT (.xlsx): headers, an example row and
    a 说明 sheet explaining each column."""
    out.write_bytes(sheets.template(kind))
    click.echo(gettext("template written to %(path)s", path=str(out)))


@click.group("households")
def households_group() -> None:
    """Households (住户) of buildings."""


@households_group.command("generate")
@click.option("--building", "building_ref", required=True, help="The building's source id or id.")
@click.option("--units", type=int, required=True, help="Units (单元) of the building.")
@click.option("--floors", type=int, required=True, help="Floors of each unit.")
@click.option("--rooms", type=int, required=True, help="Dwellings per floor (doors 101, 102 …).")
@with_appcontext
def households_generate(building_ref: str, units: int, floors: int, rooms: int) -> None:
    """Add every household of a building from units × floors × rooms per floor, named
    1单元 3层 302; those already there are kept, so running it again adds nothing."""
    session = _session()
    try:
        building = households.building_by_ref(session, building_ref)
        made = households.generate(session, Scope.system(), building, units=units, floors=floors, rooms=rooms)
    except GridwalkError as error:
        session.rollback()
        _fail(error)
    session.commit()
    click.echo(gettext("%(created)s households added, %(existing)s already there", created=made.created,
                       existing=made.existing))


# --- users and tokens -------------------------------------------------------------------


@click.group("users")
def users_group() -> None:
    """Logins."""


@users_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--area", "area_code", help="Code of the area the user works in.")
@with_appcontext
def users_create(name: str, role: str, area_code: str | None) -> None:
    """Create a login; the password comes from GRIDWALK_PASSWORD, else a prompt."""
    password = os.environ.get("GRIDWALK_PASSWORD") or click.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    session = _session()
    try:
        user = accounts.create_user(session, name, password, role, area_code)
    except GridwalkError as error:
        _fail(error)
    session.commit()
    click.echo(f"created user {user.username} ({user.role})")


@users_group.command("password")
@click.argument("name")
@with_appcontext
def users_password(name: str) -> None:
    """Give login NAME a new password (from GRIDWALK_PASSWORD, else a prompt); its browser
    logins end."""
    password = os.environ.get("GRIDWALK_PASSWORD") or click.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    session = _session()
    try:
        accounts.set_password(session, accounts.user_named(session, name), password)
    except GridwalkError as error:
        _fail(error)
    session.commit()
    click.echo(f"new password set for {name}")


@users_group.command("list")
@with_appcontext
def users_list() -> None:
    """List the logins: name, role and area."""
    session = _session()
    for user in directory.users(session, page_size=None):
        area = f"{user.area.name} ({user.area.code})" if user.area else "—"
        click.echo(f"  {user.username:<16} {user.role:<10} {area}{'' if user.active else '  [inactive]'}")


@click.group("tokens")
def tokens_group() -> None:
    """API tokens for integrations."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
@with_appcontext
def tokens_create(name: str, label: str) -> None:
    """Create an API token for user NAME and print it (only this once)."""
    session = _session()
    try:
        _, token = accounts.create_token(session, name, label)
    except GridwalkError as error:
        _fail(error)
    session.commit()
    click.echo(token)


@tokens_group.command("list")
@click.argument("name")
@with_appcontext
def tokens_list(name: str) -> None:
    """List the API tokens of user NAME (never the tokens themselves)."""
    session = _session()
    try:
        user = accounts.user_named(session, name)
    except GridwalkError as error:
        _fail(error)
    for token in accounts.tokens_of(session, user):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(f"{token.id:>6}  {state:<18} last used {used:<16} {token.name}")


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def tokens_revoke(token_id: int) -> None:
    """Revoke the API token with id TOKEN_ID (from `gridwalk tokens list`)."""
    session = _session()
    try:
        accounts.revoke_token(session, token_id, None)
    except GridwalkError as error:
        _fail(error)
    session.commit()
    click.echo(f"revoked token {token_id}")


# --- notifications ----------------------------------------------------------------------


@click.group("notify")
def notify_group() -> None:
    """Notifications: deadlines, wishes, the daily digest, and sending e-mail and webhooks."""


@notify_group.command("run")
@click.option("--every", type=click.IntRange(0, 86400), default=0,
              help="Run again every this many seconds (0: once, for cron).")
@click.option("--send-only", is_flag=True, help="Only send what is queued.")
@with_appcontext
def notify_run(every: int, send_only: bool) -> None:
    """Tell of deadlines near and passed, wishes claimed and overdue and (from 07:00) the
    day's digest, then send the queued e-mails and webhooks. Any number may run at once:
    nobody is told anything twice, and no delivery goes out twice."""
    channels = notify.Channels.from_config(current_app.config)
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    while True:
        session = _session()
        if not send_only:
            now = dt.datetime.now(zone)
            told = notify.scan(session, now.date(), now)
            session.commit()
            click.echo("told: " + ", ".join(f"{k} {v}" for k, v in told.items()))
        sent = notify.send(session, channels)
        session.close()
        click.echo(f"sent {sent['sent']}, failed {sent['failed']}")
        if not every:
            return
        time.sleep(every)
