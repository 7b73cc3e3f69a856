"""Logging in and out: hashed passwords, lockout, CSRF, safe redirects, cookie flags."""

from __future__ import annotations

from sqlalchemy import select, text

from geo import accounts
from geo.models import User
from tests.conftest import log_in_as


def csrf(client) -> str:  # type: ignore[no-untyped-def]
    client.get("/login")
    with client.session_transaction() as s:
        return s["csrf"]


def login(client, username: str, password: str, **extra):  # type: ignore[no-untyped-def]
    return client.post("/login" + extra.pop("query", ""),
                       data={"username": username, "password": password, "csrf_token": csrf(client), **extra})


def test_the_map_sends_an_anonymous_visitor_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location.startswith("/login")
    page = client.get("/login").get_data(as_text=True)
    assert "用户名" in page and "密码" in page and "登录" in page


def test_logging_in_opens_the_map(client, admin_user):
    response = login(client, "admin", "correct horse")
    assert response.status_code == 302 and response.location == "/"
    page = client.get("/")
    assert page.status_code == 200 and "退出登录" in page.get_data(as_text=True)


def test_user_names_are_not_case_sensitive(client, admin_user):
    assert login(client, "Admin", "correct horse").status_code == 302


def test_a_wrong_password_is_refused_with_the_same_message_as_an_unknown_user(client, admin_user):
    wrong = login(client, "admin", "wrong horse")
    unknown = login(client, "nobody", "wrong horse")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.get_data(as_text=True)
    assert "用户名或密码错误" in unknown.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_five_failed_logins_lock_the_account_without_saying_who_exists(client, admin_user, session):
    for _ in range(5):
        assert login(client, "admin", "guess").status_code == 401
    locked = login(client, "admin", "correct horse")
    unknown = login(client, "nobody", "correct horse")
    assert locked.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in locked.get_data(as_text=True)
    assert _error(locked) == _error(unknown)  # a locked name looks like an unknown one
    session.refresh(admin_user)
    assert admin_user.locked_until is not None
    assert client.get("/").status_code == 302


def test_a_spray_of_guesses_from_one_address_is_stopped_across_user_names(app, admin_user, session, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_ADDRESS_FAILURES", 5)
    sprayer = app.test_client()
    sprayer.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    for n in range(5):  # one guess per name: no account reaches its own lockout
        assert login(sprayer, f"officer{n}", "123456").status_code == 401
    stopped = login(sprayer, "admin", "correct horse")  # even the right password
    assert stopped.status_code == 429 and "分钟后再试" in stopped.get_data(as_text=True)
    assert stopped.headers["Retry-After"] == "900"
    assert sprayer.get("/").status_code == 302
    session.refresh(admin_user)
    assert admin_user.failed_logins == 0  # the account itself is not locked …
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert login(elsewhere, "admin", "correct horse").status_code == 302  # … and works from elsewhere
    # When the window has passed, the address may try again.
    session.execute(text("UPDATE login_addresses SET window_from = now() - interval '16 minutes'"))
    assert login(sprayer, "admin", "correct horse").status_code == 302


def test_an_ipv6_line_counts_as_one_address_and_an_untrusted_proxy_not_at_all(app, admin_user, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_ADDRESS_FAILURES", 5)
    for n in range(5):  # hopping through the addresses of one /64 does not help
        hopper = app.test_client()
        hopper.environ_base["REMOTE_ADDR"] = f"2001:db8:1:2::{n + 1:x}"
        assert login(hopper, f"officer{n}", "123456").status_code == 401
    hopper.environ_base["REMOTE_ADDR"] = "2001:db8:1:2:ffff::9"
    assert login(hopper, "admin", "correct horse").status_code == 429
    # Behind nginx without GRIDWALK_PROXIES every login comes from 127.0.0.1: counting that
    # one address would let anyone lock the whole county out, so it is not counted.
    local = app.test_client()
    local.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    for n in range(6):
        assert login(local, f"officer{n}", "123456").status_code == 401
    assert login(local, "admin", "correct horse").status_code == 302


def test_officers_behind_one_address_are_not_stopped_by_their_own_logins(app, admin_user, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_ADDRESS_FAILURES", 5)
    office = app.test_client()
    office.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    for _ in range(4):  # a few typos among many good logins, all from the township office
        assert login(office, "admin", "typo").status_code == 401
        for _ in range(3):
            assert login(office, "admin", "correct horse").status_code == 302
    assert login(office, "admin", "correct horse").status_code == 302


def _error(response) -> str:  # type: ignore[no-untyped-def]
    import re

    return re.search(r'class="gw-error"[^>]*>([^<]*)<', response.get_data(as_text=True)).group(1)


def test_passwords_are_stored_hashed(admin_user):
    assert admin_user.password_hash.startswith("scrypt:")
    assert "correct horse" not in admin_user.password_hash


def test_login_without_the_form_token_is_refused(client, admin_user):
    response = client.post("/login", data={"username": "admin", "password": "correct horse"})
    assert response.status_code == 403
    assert client.get("/").status_code == 302


def test_login_only_redirects_within_the_site(client, admin_user):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "////evil.example/x",
                   "/%09/evil.example", "/\t/evil.example"):
        response = login(client, "admin", "correct horse", query=f"?next={target}")
        assert response.status_code == 302
        assert response.location == "/", response.location
        client.post("/logout", data={"csrf_token": csrf(client)})
    response = login(client, "admin", "correct horse", query="?next=/api/v1/areas")
    assert response.location == "/api/v1/areas"


def test_logout_needs_the_form_token_and_ends_the_session(logged_in):
    assert logged_in.post("/logout").status_code == 403
    assert logged_in.get("/").status_code == 200
    with logged_in.session_transaction() as s:
        token = s["csrf"]
        stolen = dict(s)  # a copy of the cookie's contents, as a thief would keep it
    assert logged_in.post("/logout", data={"csrf_token": token}).status_code == 302
    assert logged_in.get("/").status_code == 302
    assert logged_in.get("/api/v1/areas").status_code == 401
    # The old cookie is worth nothing once its login has ended.
    with logged_in.session_transaction() as s:
        s.update(stolen)
    assert logged_in.get("/api/v1/areas").status_code == 401


def test_a_password_change_ends_the_users_other_logins(app, admin_user):
    phone, desktop = app.test_client(), app.test_client()
    log_in_as(phone, "admin")
    token = log_in_as(desktop, "admin")
    response = desktop.post("/api/v1/me/password", headers={"X-CSRF-Token": token},
                            json={"current_password": "correct horse", "new_password": "battery staple"})
    assert response.status_code == 200, response.data
    assert desktop.get("/api/v1/me").status_code == 200  # this one stays logged in
    assert phone.get("/api/v1/me").status_code == 401
    assert login(phone, "admin", "correct horse").status_code == 401
    assert login(phone, "admin", "battery staple").status_code == 302


def test_a_nul_character_is_refused_not_a_crash(client, admin_user):
    response = client.post("/login", data={"username": "ad\x00min", "password": "x", "csrf_token": csrf(client)})
    assert response.status_code == 400


def test_session_cookie_is_http_only_and_same_site(client, admin_user):
    response = login(client, "admin", "correct horse")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_deactivated_user_is_logged_out(logged_in, session):
    user = session.query(User).filter_by(username="admin").one()
    user.active = False
    session.flush()
    assert logged_in.get("/").status_code == 302


def test_parallel_guesses_cannot_outrun_the_lockout(engine):
    """Twenty simultaneous wrong passwords: the login ends up locked, so the right one is
    refused too. (Committed data: each guess needs its own connection.)"""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import delete
    from sqlalchemy.orm import Session

    from geo import accounts
    from geo.errors import Unauthorized

    with Session(engine) as s:
        accounts.create_user(s, "parallel-target", "correct horse", "viewer")
        s.commit()

    def guess(_: int) -> None:
        with Session(engine) as s:
            try:
                accounts.authenticate(s, "parallel-target", "wrong guess")
            except Unauthorized:
                pass
            s.commit()

    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(guess, range(20)))
        with Session(engine) as s:
            try:
                accounts.authenticate(s, "parallel-target", "correct horse")
                refused = False
            except Unauthorized:
                refused = True
            s.commit()
            user = s.query(User).filter_by(username="parallel-target").one()
            assert refused and user.locked_until is not None
    finally:
        with Session(engine) as s:
            s.execute(delete(User).where(User.username == "parallel-target"))
            s.commit()


def test_a_token_cannot_mint_tokens_or_change_the_password(client, session, admin_user):
    from geo import accounts

    _, token = accounts.create_token(session, admin_user)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/tokens", json={"name": "more"}, headers=headers).status_code == 403
    assert client.post("/api/v1/me/password", headers=headers,
                       json={"current_password": "correct horse", "new_password": "stolen!!"}).status_code == 403
    # Nor reset it as an administrator would, nor make itself a login of its own.
    reset = client.patch(f"/api/v1/users/{admin_user.id}", headers=headers,
                         json={"password": "hijacked-password", "version": admin_user.version})
    assert reset.status_code == 403 and reset.get_json()["error"]["code"] == "session_only"
    created = client.post("/api/v1/users", headers=headers,
                          json={"username": "backdoor", "password": "a long secret", "role": "admin"})
    assert created.status_code == 403
    # Nor through the pages' forms, which skip nothing for a token.
    for path, form in [("/admin/users/new", {"username": "evil", "password": "a long secret", "role": "admin"}),
                       (f"/admin/users/{admin_user.id}", {"password": "hijacked-password"}),
                       ("/account/tokens", {"name": "more"}),
                       ("/account/password", {"current_password": "correct horse", "new_password": "stolen!!!"})]:
        refused = client.post(path, data=form, headers=headers)
        assert refused.status_code == 403, (path, refused.status_code)
    assert client.get("/issues.csv", headers=headers).status_code == 200  # reading pages is fine
    assert login(client, "admin", "correct horse").status_code == 302
    assert login(client, "backdoor", "a long secret").status_code != 302
    assert login(client, "evil", "a long secret").status_code != 302


def test_a_new_password_revokes_tokens_and_unlocks_the_login(client, session, admin_user):
    from geo import accounts

    _, token = accounts.create_token(session, admin_user)
    for _ in range(6):
        login(client, "admin", "guess")
    session.refresh(admin_user)
    assert admin_user.locked_until is not None
    accounts.set_password(session, admin_user, "a fresh secret")  # as an administrator would
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(client, "admin", "a fresh secret").status_code == 302
    # The revocation is in the audit log, token by token.
    from geo.models import ApiToken, AuditEntry

    revoked = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "api_tokens")).all()
    token_ids = set(session.scalars(select(ApiToken.id).where(ApiToken.user_id == admin_user.id)))
    assert {e.record_id for e in revoked} == token_ids and all(e.after["revoked"] for e in revoked)


def test_failed_tries_are_forgotten_after_a_quiet_quarter_hour(client, session, admin_user):
    from sqlalchemy import text

    for _ in range(4):
        login(client, "admin", "typo")
    session.execute(text("UPDATE users SET tried_at = now() - interval '16 minutes' WHERE id = :i"),
                    {"i": admin_user.id})
    for _ in range(4):  # four more typos: eight in all, but not in a row
        login(client, "admin", "typo")
    assert login(client, "admin", "correct horse").status_code == 302


def test_deactivating_a_user_ends_their_logins_for_good(app, session, role_users):
    phone = app.test_client()
    log_in_as(phone, "grid-user")
    admin = app.test_client()
    admin.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(admin, "admin-user")
    user = role_users["grid"]
    off = admin.patch(f"/api/v1/users/{user.id}", json={"active": False, "version": user.version})
    assert off.status_code == 200, off.data
    on = admin.patch(f"/api/v1/users/{user.id}", json={"active": True, "version": off.get_json()["version"]})
    assert on.status_code == 200
    assert phone.get("/api/v1/me").status_code == 401  # reactivating does not revive the old login


def test_a_role_needs_an_area_of_its_level(app, session, role_users, world):
    admin = app.test_client()
    admin.environ_base["HTTP_X_CSRF_TOKEN"] = log_in_as(admin, "admin-user")
    wide = admin.post("/api/v1/users", json={"username": "grid-everywhere", "password": "long enough",
                                             "role": "grid", "area_code": world.county.code})
    assert wide.status_code == 400 and wide.get_json()["error"]["code"] == "role_area"
    nowhere = admin.post("/api/v1/users", json={"username": "township-nowhere", "password": "long enough",
                                                "role": "township"})
    assert nowhere.status_code == 400
