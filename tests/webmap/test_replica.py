"""A read replica by streaming replication (scripts/postgis.sh replica): with DATABASE_READ_URL
the map's reads come from it, writes stay on the primary, and a user reads their own write
back at once even while the replica is behind; a replica that does not answer is skipped."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo import accounts
from geo.models import Building
from tests.conftest import PASSWORD, ROOT, _server_url, build_world, create_database, drop_database

POINT = {"lon": 109.4745, "lat": 29.9845}  # inside 贡水花园1栋, in 文澜一网格


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[dict[str, object]]:  # type: ignore[no-untyped-def]
    """A world committed on the primary, two officers' tokens, and a hot standby of the whole
    test cluster on a port of its own."""
    name = f"gridwalk_replica_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    primary = create_engine(url)
    with Session(primary) as s:
        world = build_world(s)
        tokens = []
        for username in ("replica-a", "replica-b"):
            user = accounts.create_user(s, username, PASSWORD, "grid", world.grid_west.code)
            tokens.append(accounts.create_token(s, user, "replica")[1])
        building_id = world.building.id
        s.commit()
    data, port = tmp_path_factory.mktemp("replica") / "data", _free_port()
    script = str(ROOT / "scripts" / "postgis.sh")
    subprocess.run([script, "replica", str(make_url(_server_url()).port), str(data), str(port), "throwaway"],
                   check=True, capture_output=True)
    read_url = make_url(url).set(port=port).render_as_string(hide_password=False)
    replica = create_engine(read_url, isolation_level="AUTOCOMMIT")
    yield {"url": url, "read_url": read_url, "primary": primary, "replica": replica, "tokens": tokens,
           "building_id": building_id}
    replica.dispose()
    subprocess.run([script, "stop", str(data)], check=True)
    primary.dispose()
    drop_database(name)


def _replay(cluster: dict, paused: bool) -> None:  # type: ignore[type-arg]
    with cluster["replica"].connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()"))


def _caught_up(cluster: dict) -> None:  # type: ignore[type-arg]
    with cluster["primary"].connect() as conn:
        target = conn.scalar(text("SELECT pg_current_wal_lsn()::text"))
    deadline = time.monotonic() + 30
    with cluster["replica"].connect() as conn:
        while not conn.scalar(text("SELECT pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn)"), {"t": target}):
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)


def _rename(cluster: dict, name: str) -> None:  # type: ignore[type-arg]
    # Someone else's write, on the primary.
    with Session(cluster["primary"]) as s:
        s.execute(update(Building).where(Building.id == cluster["building_id"]).values(name=name))
        s.commit()


def _look(client, token: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    found = client.get("/api/v1/lookup", query_string=POINT, headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200
    return found.get_json()["building"]


def test_map_reads_come_from_the_replica_and_a_user_reads_their_own_write_back_at_once(cluster):
    from webmap import create_app

    app = create_app({"DATABASE_URL": cluster["url"], "DATABASE_READ_URL": cluster["read_url"],
                      "SECRET_KEY": "x"})
    client = app.test_client()
    writer, other = cluster["tokens"]
    _caught_up(cluster)
    _rename(cluster, "贡水花园1栋")
    _caught_up(cluster)
    _replay(cluster, paused=True)
    try:
        # A write on the primary the replica has not replayed: the map does not show it yet,
        # so its reads are the replica's.
        _rename(cluster, "贡水花园一号楼")
        assert _look(client, writer)["name"] == "贡水花园1栋"

        # The officer reports a problem there (a write, on the primary) and taps the building
        # again: the report is in the panel at once, read from the primary while the replica
        # is behind …
        reported = client.post("/api/v1/issues", headers={"Authorization": f"Bearer {writer}"},
                               json={**POINT, "category": "环境卫生", "description": "楼道堆物"})
        assert reported.status_code == 201, reported.get_json()
        mine = _look(client, writer)
        assert [i["id"] for i in mine["open_issues"]] == [reported.get_json()["id"]]
        assert mine["name"] == "贡水花园一号楼"
        # … while a colleague who wrote nothing is still served by the replica.
        assert _look(client, other)["open_issues"] == []
    finally:
        _replay(cluster, paused=False)

    # Once the replica has replayed the write, the writer's reads go back to it.
    _caught_up(cluster)
    _replay(cluster, paused=True)
    try:
        _rename(cluster, "贡水花园1栋")
        assert _look(client, writer)["name"] == "贡水花园一号楼"
        assert len(_look(client, other)["open_issues"]) == 1
    finally:
        _replay(cluster, paused=False)


def test_writes_go_to_the_primary_and_a_replica_that_does_not_answer_is_skipped(cluster):
    from webmap import create_app

    gone = make_url(cluster["read_url"]).set(port=_free_port()).render_as_string(hide_password=False)
    app = create_app({"DATABASE_URL": cluster["url"], "DATABASE_READ_URL": gone, "SECRET_KEY": "x"})
    client = app.test_client()
    writer = cluster["tokens"][0]
    assert _look(client, writer)["id"] == cluster["building_id"]
    bbox = "109.47,29.98,109.48,29.99"
    shown = client.get(f"/api/v1/buildings?bbox={bbox}", headers={"Authorization": f"Bearer {writer}"})
    assert shown.status_code == 200
    assert [f["id"] for f in shown.get_json()["features"]] == [cluster["building_id"]]
    reported = client.post("/api/v1/issues", headers={"Authorization": f"Bearer {writer}"},
                           json={**POINT, "category": "环境卫生", "description": "副本不在时的上报"})
    assert reported.status_code == 201
