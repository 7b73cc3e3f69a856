"""A county's own basemap in one file (TILE_FILE), served by Gridwalk at
/tiles/basemap/{z}/{x}/{y}: an MBTiles file (SQLite) or a PMTiles v3 file, of raster tiles
(PNG, JPEG or WebP) drawn in TILE_DATUM. Served from the same site, its tiles are kept by
the offline map like any other basemap's, with no third party to ask.

The file is checked when the app starts (webmap.basemaps.configured): one that is missing,
unreadable, not one of the two formats or of vector tiles stops the app with the reason.
"""

from __future__ import annotations

import functools
import io
import sqlite3
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image
from pmtiles.reader import MmapSource, Reader

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
_PMTILES_TYPES = {2: "png", 3: "jpg", 4: "webp"}  # PMTiles' tile_type codes of raster tiles
_SQLITE = b"SQLite format 3\x00"


class TileFileError(ValueError):
    """TILE_FILE cannot be served: says why."""


@dataclass(frozen=True)
class TileFile:
    path: Path
    kind: str  # "mbtiles" or "pmtiles"
    media_type: str
    min_zoom: int
    max_zoom: int
    stamp: int = 0  # the file's modification time: a new file is mapped afresh

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes, or None where the file has none."""
        if not (self.min_zoom <= z <= self.max_zoom and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
            return None
        if self.kind == "pmtiles":
            return _pmtiles(self.path, self.stamp).get(z, x, y)
        with closing(_mbtiles(self.path)) as db:
            row = db.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                             (z, x, 2 ** z - 1 - y)).fetchone()  # MBTiles counts rows from the south
        return bytes(row[0]) if row else None


@functools.cache
def blank() -> bytes:
    """A transparent tile: where the file has none."""
    out = io.BytesIO()
    Image.new("RGBA", (256, 256), (0, 0, 0, 0)).save(out, "PNG", optimize=True)
    return out.getvalue()


def _mbtiles(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


@functools.lru_cache(maxsize=8)
def _pmtiles(path: Path, stamp: int) -> Reader:
    """One read-only mapping of the file (as it is at `stamp`) per process, shared by every
    request's thread."""
    with path.open("rb") as f:
        return Reader(MmapSource(f))


def open_file(name: str) -> TileFile:
    """The file checked and described; read again only when it changes (the basemaps are
    listed for each response's CSP)."""
    path = Path(name)
    try:
        stat = path.stat()
        return replace(_opened(path, stat.st_mtime_ns, stat.st_size), stamp=stat.st_mtime_ns)
    except OSError as e:
        raise TileFileError(f"TILE_FILE {name} cannot be read: {e.strerror}") from None


@functools.lru_cache(maxsize=8)
def _opened(path: Path, mtime_ns: int, size: int) -> TileFile:
    with path.open("rb") as f:
        head = f.read(16)
    name = str(path)
    if head.startswith(b"PMTiles"):
        return _open_pmtiles(path, head)
    if head == _SQLITE:
        return _open_mbtiles(path)
    raise TileFileError(f"TILE_FILE {name} is neither an MBTiles nor a PMTiles file")


def _open_pmtiles(path: Path, head: bytes) -> TileFile:
    if head[7] != 3:
        raise TileFileError(f"TILE_FILE {path} is PMTiles version {head[7]}; version 3 is read")
    try:
        with path.open("rb") as f:
            header = Reader(MmapSource(f)).header()
    except (ValueError, IndexError) as e:
        raise TileFileError(f"TILE_FILE {path} is not a readable PMTiles file: {e}") from None
    kind = _PMTILES_TYPES.get(header["tile_type"].value)
    if kind is None:
        raise TileFileError(f"TILE_FILE {path} holds vector or unknown tiles; a basemap file holds PNG, JPEG or WebP")
    if header["internal_compression"].value != 2:  # the reader takes gzipped directories only
        raise TileFileError(f"TILE_FILE {path} has its directories compressed with "
                            f"{header['internal_compression'].name}; gzip is read")
    if header["tile_compression"].value not in (0, 1):  # raster tiles are compressed already
        raise TileFileError(f"TILE_FILE {path} has its tiles compressed again ({header['tile_compression'].name})")
    return TileFile(path, "pmtiles", MEDIA_TYPES[kind], int(header["min_zoom"]), int(header["max_zoom"]))


def _open_mbtiles(path: Path) -> TileFile:
    try:
        with closing(_mbtiles(path)) as db:
            meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
            low, high = db.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
    except sqlite3.Error as e:
        raise TileFileError(f"TILE_FILE {path} is not a readable MBTiles file: {e}") from None
    kind = str(meta.get("format", "png")).lower()
    if kind not in MEDIA_TYPES:
        raise TileFileError(f"TILE_FILE {path} holds {kind} tiles; a basemap file holds PNG, JPEG or WebP")
    if low is None:
        raise TileFileError(f"TILE_FILE {path} holds no tiles")
    return TileFile(path, "mbtiles", MEDIA_TYPES[kind], int(low), int(high))

