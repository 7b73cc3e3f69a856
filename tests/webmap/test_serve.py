"""`gridwalk serve` as it runs for real: installed from a built wheel into a fresh venv,
under gunicorn with two workers, against a PostgreSQL cluster of its own that the tests
restart. And the refusal to serve a blank map from an installation without its assets."""

from __future__ import annotations

import gzip
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from tests.conftest import PASSWORD, ROOT

POSTGIS = str(ROOT / "scripts" / "postgis.sh")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A PostGIS cluster of these tests' own, migrated, with one admin: restarting it must
    not disturb the rest of the suite."""
    data = tmp_path_factory.mktemp("serve-pg") / "data"
    port = _free_port()
    subprocess.run([POSTGIS, "start", str(data), str(port), "gridwalk", "throwaway"], check=True)
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gridwalk"
    env = {**os.environ, "DATABASE_URL": url, "GRIDWALK_PASSWORD": PASSWORD}
    gridwalk = str(ROOT / ".venv" / "bin" / "gridwalk")
    subprocess.run([gridwalk, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([gridwalk, "users", "create", "admin", "--role", "admin"], env=env, check=True,
                   capture_output=True)
    yield {"data": data, "port": port, "url": url}
    subprocess.run([POSTGIS, "stop", str(data)], check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding Gridwalk from a wheel built from this checkout, and nothing of the
    checkout itself; its dependencies are borrowed from the project's venv (no download)."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    wheel = next((root / "dist").glob("gridwalk-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.fixture(scope="module")
def server(installed: Path, cluster: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`gridwalk serve` with two workers from the installed wheel, started in an empty folder
    and with no SECRET_KEY, as someone following the README would."""
    cwd = tmp_path_factory.mktemp("serve-cwd")
    port = _free_port()
    log = cwd / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "PYTHONPATH")}
    env["DATABASE_URL"] = cluster["url"]
    with log.open("wb") as out:
        process = subprocess.Popen([str(installed / "bin" / "gridwalk"), "serve", "--port", str(port), "--workers", "2"],
                                   cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    _wait_until_answering(base, process, log)
    yield {"base": base, "process": process, "log": log, "installed": installed}
    if process.poll() is None:
        process.kill()
        process.wait()


def _wait_until_answering(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gridwalk serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/login", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"gridwalk serve did not answer within 60 s:\n{log.read_text()}")


class Browser:
    """Cookies kept between requests, as a browser would; errors returned, not raised."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return self._send(urllib.request.Request(self.base + path, headers=headers))

    def _send(self, request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def log_in(self, username: str = "admin") -> None:
        _, _, page = self.get("/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        body = urllib.parse.urlencode({"username": username, "password": PASSWORD,
                                       "csrf_token": token.group(1).decode()}).encode()
        status, _, _ = self._send(urllib.request.Request(self.base + "/login", data=body))
        assert status == 200  # the redirect to the map, followed


def test_a_server_installed_from_the_wheel_serves_leaflet_and_chinese_pages(server):
    where = subprocess.run([str(server["installed"] / "bin" / "python"), "-c", "import webmap; print(webmap.__file__)"],
                           check=True, capture_output=True, text=True, cwd=server["log"].parent).stdout
    assert where.startswith(str(server["installed"]))  # not the checkout
    browser = Browser(server["base"])
    status, _, page = browser.get("/login")
    assert status == 200 and "登录".encode() in page
    status, headers, leaflet = browser.get("/static/vendor/leaflet/leaflet.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"Leaflet" in leaflet[:400]


def test_a_login_holds_whichever_worker_answers(server):
    browser = Browser(server["base"])
    browser.log_in()
    # Each request opens its own connection, so both workers take turns: with a key of its
    # own per worker, half of these would be sent back to the login page.
    for _ in range(12):
        status, _, page = browser.get("/accountability")
        assert status == 200 and b'name="password"' not in page
    workers = set(re.findall(r"Booting worker with pid: (\d+)", server["log"].read_text()))
    assert len(workers) >= 2


def test_text_answers_are_compressed_for_the_clients_that_accept_it(server):
    browser = Browser(server["base"])
    css = (ROOT / "static" / "css" / "gridwalk.css").read_bytes()
    status, headers, body = browser.get("/static/css/gridwalk.css", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body) == css and len(body) < len(css) / 3
    # The compressed copy has an ETag of its own, and a browser holding it is told 304.
    again = browser.get("/static/css/gridwalk.css", **{"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]})
    assert again[0] == 304 and again[2] == b""
    status, headers, body = browser.get("/login", **{"Accept-Encoding": "br"})
    assert status == 200 and headers["Content-Encoding"] == "br"
    assert "登录".encode() in brotli.decompress(body)
    status, headers, body = browser.get("/static/css/gridwalk.css")  # a client that asks for none
    assert "Content-Encoding" not in headers and body == css
    # Photos are compressed already: sent as they are.
    status, headers, _ = browser.get("/static/vendor/leaflet/images/layers.png", **{"Accept-Encoding": "gzip"})
    assert status == 200 and "Content-Encoding" not in headers


def test_every_request_is_in_the_access_log_with_its_time(server):
    Browser(server["base"]).get("/login?from=access-log-test")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        line = [x for x in server["log"].read_text().splitlines() if "access-log-test" in x]
        if line:
            break
        time.sleep(0.1)
    assert line and re.search(r'"GET /login\?from=access-log-test HTTP/1.1" 200 \d+ \d+ms', line[0])


def test_the_app_recovers_by_itself_after_a_database_restart(server, cluster):
    browser = Browser(server["base"])
    browser.log_in()
    assert browser.get("/accountability")[0] == 200
    subprocess.run([POSTGIS, "stop", str(cluster["data"])], check=True)
    try:
        status, headers, page = browser.get("/accountability")
        # Down: a clear "try again", never a bare 500.
        assert status == 503 and headers.get("Retry-After") == "5"
        assert "暂时连不上数据库".encode() in page
        status, _, body = browser.get("/api/v1/areas", Accept="application/json")
        assert status == 503 and b'"database_unavailable"' in body
    finally:
        subprocess.run([POSTGIS, "start", str(cluster["data"]), str(cluster["port"]), "gridwalk", "throwaway"],
                       check=True)
    # Back: every pooled connection of both workers was cut; each is replaced on its next use.
    statuses = [browser.get("/accountability")[0] for _ in range(30)]
    assert statuses == [200] * 30


def test_sighup_reloads_the_workers_without_refusing_a_request_and_sigterm_stops(server):
    browser = Browser(server["base"])
    browser.log_in()
    process = server["process"]
    before = set(re.findall(r"Booting worker with pid: (\d+)", server["log"].read_text()))
    process.send_signal(signal.SIGHUP)
    statuses = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        statuses.append(browser.get("/accountability")[0])
        after = set(re.findall(r"Booting worker with pid: (\d+)", server["log"].read_text()))
        if len(after - before) >= 2:
            break
    assert len(after - before) >= 2, server["log"].read_text()  # new workers, the old ones gone
    assert set(statuses) == {200}
    assert browser.get("/accountability")[0] == 200  # the login outlives the reload
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0


@pytest.mark.parametrize("command", ["serve", "run"])
def test_serving_refuses_an_installation_without_its_assets(app, tmp_path, monkeypatch, command):
    monkeypatch.setenv("SECRET_KEY", "test-secret")  # or serve would make one for this process
    # An installation where `make assets` never ran: the manifest, but none of its files.
    shutil.copy(ROOT / "static" / "vendor.json", tmp_path / "vendor.json")
    app.static_folder = str(tmp_path)
    from webmap.cli import main

    result = CliRunner().invoke(main, [command, "--port", str(_free_port())], obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 1
    assert "leaflet/leaflet.js" in result.output and "make assets translations" in result.output
