"""One unit of work per request: a request's writes are committed once, after its view has
answered, and a commit that fails is answered through the one error handler, with nothing
stored, instead of a "saved" the database never kept."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo.models import Issue

# A check PostgreSQL runs only at COMMIT (a deferred constraint trigger), failing with the
# given SQLSTATE for reports whose description asks for it: what a lost serialisation race,
# a unique violation found late or a database shutting down look like to the app.
TRIGGER = """
CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.description LIKE 'fail at commit %' THEN
    RAISE EXCEPTION 'refused at commit' USING ERRCODE = split_part(NEW.description, ' ', 4);
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON issues
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit();
"""


@pytest.fixture
def failing_commits(committed_world):  # type: ignore[no-untyped-def]
    engine = committed_world["engine"]
    with engine.begin() as conn:
        conn.execute(text(TRIGGER))
    yield committed_world
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER fail_at_commit ON issues; DROP FUNCTION fail_at_commit()"))


@pytest.mark.parametrize(("sqlstate", "status", "code"), [
    ("40001", 409, "conflict"),               # serialization_failure: try again
    ("23505", 409, "conflict"),               # unique_violation, found at commit
    ("57P01", 503, "database_unavailable"),   # admin_shutdown: the database is going away
])
def test_a_report_whose_commit_fails_is_refused_and_not_stored(failing_commits, sqlstate, status, code):
    from webmap import create_app

    app = create_app({"DATABASE_URL": failing_commits["url"], "SECRET_KEY": "x"})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {failing_commits['token']}"}
    body = {"lon": 109.4745, "lat": 29.9845, "category": "环境卫生", "client_id": str(uuid.uuid4())}
    refused = client.post("/api/v1/issues", headers=headers, json={**body, "description": f"fail at commit {sqlstate}"})
    assert refused.status_code == status
    assert refused.get_json()["error"]["code"] == code
    with Session(failing_commits["engine"]) as s:
        assert s.scalar(select(func.count()).select_from(Issue).where(Issue.client_id == body["client_id"])) == 0
    # The officer's phone tries again (its queue keeps the report): now it is stored, once.
    stored = client.post("/api/v1/issues", headers=headers, json={**body, "description": "第二次"})
    assert stored.status_code == 201
    with Session(failing_commits["engine"]) as s:
        assert s.scalar(select(func.count()).select_from(Issue).where(Issue.client_id == body["client_id"])) == 1


def test_a_report_and_the_token_use_it_notes_are_one_commit_and_a_refusal_none(committed_world):
    from sqlalchemy import event, update

    from geo.models import ApiToken
    from webmap import create_app

    app = create_app({"DATABASE_URL": committed_world["url"], "SECRET_KEY": "x"})
    engine = app.extensions["gridwalk.sessions"].kw["bind"]
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    with Session(committed_world["engine"]) as s:
        s.execute(update(ApiToken).values(last_used_at=func.now() - text("interval '1 hour'")))
        s.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {committed_world['token']}"}
    body = {"lon": 109.4745, "lat": 29.9845, "category": "环境卫生", "description": "一次提交"}
    refused = client.post("/api/v1/issues", headers=headers, json={**body, "category": "no such category"})
    assert refused.status_code == 400 and commits == []
    stored = client.post("/api/v1/issues", headers=headers, json=body)
    assert stored.status_code == 201 and commits == [1]
    with Session(committed_world["engine"]) as s:
        used = s.scalar(select(func.max(ApiToken.last_used_at)))
        fresh = s.scalar(select(func.now() - ApiToken.last_used_at < text("interval '1 minute'")).where(
            ApiToken.last_used_at == used))
        assert fresh  # noted, with the report
        assert s.get(Issue, stored.get_json()["id"]) is not None
