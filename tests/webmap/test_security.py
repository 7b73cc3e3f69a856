"""Security headers and the Content-Security-Policy."""

from __future__ import annotations

import re

import pytest

from webmap.security import tile_source


def test_pages_carry_a_strict_content_security_policy(logged_in, world):
    response = logged_in.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    page = response.get_data(as_text=True)
    inline = re.findall(r"<(?:script|style)(?![^>]*\bsrc=)[^>]*>", page)
    assert inline and all(f'nonce="{nonce}"' in tag for tag in inline)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_every_response_gets_its_own_nonce(logged_in, world):
    first = logged_in.get("/").headers["Content-Security-Policy"]
    second = logged_in.get("/").headers["Content-Security-Policy"]
    assert first != second


def test_the_policy_allows_the_configured_tile_host_only(logged_in, world, app):
    assert "tile" not in logged_in.get("/").headers["Content-Security-Policy"]
    app.config["TILE_URL"] = "https://{s}.tiles.example.cn/{z}/{x}/{y}.png"
    policy = logged_in.get("/").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://*.tiles.example.cn" in policy


@pytest.mark.parametrize("url, source", [
    ("https://t{s}.tianditu.gov.cn/img_w/wmts?TILECOL={x}", "https://*.tianditu.gov.cn"),
    ("http://tiles.intranet:8080/{z}/{x}/{y}.png", "http://tiles.intranet:8080"),
    ("https://{s}.cn/{z}/{x}/{y}.png", ""),  # never a whole top-level domain
    ("javascript:alert(1)//{z}", ""),
])
def test_the_tile_host_becomes_a_source_a_browser_accepts(url, source):
    assert tile_source(url) == source


def test_api_answers_and_the_login_page_have_the_headers_too(client, logged_in, world):
    for response in (client.get("/login"), logged_in.get("/api/v1/areas?level=grid")):
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"


def test_secure_cookies_bring_strict_transport_security(app, client, admin_user):
    app.config["SESSION_COOKIE_SECURE"] = True
    assert client.get("/login").headers["Strict-Transport-Security"].startswith("max-age=")
