"""Fetches the front-end packages listed in static/vendor.json from the npm registry
(or the mirror in $npm_config_registry), checks each tarball against its pinned sha512
integrity, and unpacks the listed files into static/vendor/. Runs once; a second run
with everything in place does nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "static" / "vendor.json"
VENDOR = ROOT / "static" / "vendor"


def tarball_url(registry: str, name: str, version: str) -> str:
    return f"{registry.rstrip('/')}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"


def fetch(package: dict, registry: str) -> None:
    url = tarball_url(registry, package["name"], package["version"])
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    algorithm, expected = package["integrity"].split("-", 1)
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise SystemExit(f"{url}: integrity mismatch ({algorithm} {digest} != {expected})")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for source, target in package["files"].items():
            member = tar.extractfile(f"package/{source}")
            if member is None:
                raise SystemExit(f"{url}: no file {source}")
            path = VENDOR / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(member.read())


def main() -> int:
    registry = os.environ.get("npm_config_registry", "https://registry.npmjs.org")
    packages = json.loads(MANIFEST.read_text())["packages"]
    for package in packages:
        # A scoped name (@scope/name) is kept flat: the stamp is a file, not a folder.
        stamp = VENDOR / f".{package['name'].replace('/', '__')}@{package['version']}"
        if stamp.exists() and all((VENDOR / t).exists() for t in package["files"].values()):
            continue
        print(f"vendoring {package['name']}@{package['version']}", file=sys.stderr)
        fetch(package, registry)
        stamp.write_text(package["integrity"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
