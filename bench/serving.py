"""`gridwalk serve` on a free loopback port, for the benchmarks that go through HTTP."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


class Served:
    """The server's port, its process and its log (var/NAME.log); stop() ends it gracefully."""

    def __init__(self, url: str, workers: int, name: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log_path = ROOT / "var" / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gridwalk"), "serve", "--port", str(self.port), "--workers", str(workers)],
            env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": name}, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while _status(self.port, "/login") != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                sys.exit(f"the server did not start; see {self.log_path}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)
        self.log.close()
