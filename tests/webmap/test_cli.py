"""The `gridwalk` command: schema migrations, users and tokens."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, inspect, text

from geo.models import User
from tests.conftest import create_database, drop_database


def test_db_upgrade_builds_the_schema_on_an_empty_database_and_is_repeatable():
    from webmap import create_app

    name = f"gridwalk_empty_{uuid.uuid4().hex[:8]}"
    url = create_database(name, migrate=False)
    try:
        runner = create_app({"DATABASE_URL": url, "SECRET_KEY": "x"}).test_cli_runner()
        first = runner.invoke(args=["db", "upgrade"])
        assert first.exit_code == 0, first.output
        second = runner.invoke(args=["db", "upgrade"])
        assert second.exit_code == 0, second.output
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names())
        assert {"areas", "buildings", "households", "assignments", "issues", "visits", "users"} <= tables
        with engine.connect() as conn:
            srid = conn.execute(text("SELECT Find_SRID('public', 'buildings', 'geom')")).scalar()
            gist = conn.execute(text(
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'buildings' AND indexdef LIKE '%USING gist (geom)%'"
            )).scalar()
        engine.dispose()
        assert srid == 4326 and gist == 1
    finally:
        drop_database(name)


def test_users_create_takes_the_password_from_the_environment(app, session, world, monkeypatch):
    monkeypatch.setenv("GRIDWALK_PASSWORD", "a long secret")
    result = app.test_cli_runner().invoke(
        args=["users", "create", "wanggrid", "--role", "grid", "--area", world.grid_west.code]
    )
    assert result.exit_code == 0, result.output
    user = session.query(User).filter_by(username="wanggrid").one()
    assert user.role == "grid" and user.area_id == world.grid_west.id
    assert user.password_hash.startswith("scrypt:")


def test_users_create_refuses_bad_input_and_writes_nothing(app, session, world, monkeypatch):
    runner = app.test_cli_runner()
    monkeypatch.setenv("GRIDWALK_PASSWORD", "short")
    result = runner.invoke(args=["users", "create", "li", "--role", "grid"])
    assert result.exit_code != 0 and "密码至少 8 个字符" in result.output
    monkeypatch.setenv("GRIDWALK_PASSWORD", "a long secret")
    result = runner.invoke(args=["users", "create", "li", "--role", "mayor"])
    assert result.exit_code != 0 and "mayor" in result.output
    result = runner.invoke(args=["users", "create", "li", "--role", "grid", "--area", "NOPE"])
    assert result.exit_code != 0 and "NOPE" in result.output
    result = runner.invoke(args=["users", "create", "li", "--role", "grid", "--area", world.community.code])
    assert result.exit_code != 0 and "grid" in result.output  # a grid member works in a grid
    assert session.query(User).filter_by(username="li").count() == 0
    assert runner.invoke(args=["users", "create", "li", "--role", "grid", "--area", world.grid_east.code]).exit_code == 0
    again = runner.invoke(args=["users", "create", "LI", "--role", "viewer"])
    assert again.exit_code != 0 and "已有名为 LI 的用户" in again.output


def test_a_token_from_the_cli_opens_the_api(app, client, session, admin_user, world):
    result = app.test_cli_runner().invoke(args=["tokens", "create", "admin", "--label", "QGIS"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("gw_")
    response = client.get(f"/api/v1/areas/{world.community.id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json()["name"] == "文澜社区"
    missing = app.test_cli_runner().invoke(args=["tokens", "create", "nobody"])
    assert missing.exit_code != 0 and "nobody" in missing.output


def test_tokens_are_listed_without_their_secret_and_revoked_from_the_cli(app, client, session, admin_user, world):
    runner = app.test_cli_runner()
    token = runner.invoke(args=["tokens", "create", "admin", "--label", "QGIS"]).output.strip()
    listing = runner.invoke(args=["tokens", "list", "ADMIN"])
    assert listing.exit_code == 0 and "QGIS" in listing.output and token not in listing.output
    token_id = listing.output.split()[0]
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code == 0
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_cli_writes_are_in_the_audit_log(app, session, world, monkeypatch):
    from geo.models import AuditEntry

    monkeypatch.setenv("GRIDWALK_PASSWORD", "a long secret")
    app.test_cli_runner().invoke(args=["users", "create", "auditee", "--role", "viewer"])
    entry = session.query(AuditEntry).filter_by(table_name="users", action="create").one()
    assert entry.via == "cli" and entry.after["username"] == "auditee"


def test_the_migrations_also_run_as_a_sql_script_for_the_dba(database_url):
    """Offline mode (`alembic upgrade head --sql`): the script a DBA would apply by hand
    builds the same schema as the online migrations."""
    import io

    from alembic import command
    from alembic.config import Config

    from tests.conftest import ROOT

    name = f"gridwalk_offline_{uuid.uuid4().hex[:8]}"
    url = create_database(name, migrate=False)
    try:
        script = io.StringIO()
        config = Config(str(ROOT / "migrations" / "alembic.ini"), output_buffer=script)
        config.set_main_option("script_location", str(ROOT / "migrations"))
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        command.upgrade(config, "head", sql=True)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(script.getvalue())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM issue_categories")).scalar() == 8
        engine.dispose()
        command.check(config)  # the schema the script built is the models' schema
    finally:
        drop_database(name)


def test_the_migrations_build_exactly_the_models(database_url):
    """Alembic finds nothing to add or drop: the revisions and geo/models.py agree."""
    from alembic import command
    from alembic.config import Config

    from tests.conftest import ROOT

    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.check(config)  # raises when they differ
