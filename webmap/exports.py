"""Tables as downloads: CSV (with a byte-order mark, so Excel reads the Chinese as UTF-8)
or XLSX. Cells that a spreadsheet would run as formulas are written as text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response

from geo.errors import N_, BadRequest

FORMATS = ("csv", "xlsx")
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_cell(value: Any) -> Any:
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def download(name: str, title: str, headings: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> Response:
    """The table as `name`.csv or `name`.xlsx (sheet `title`), rows read one at a time."""
    if fmt not in FORMATS:
        raise BadRequest(N_("format must be csv or xlsx"))
    cells = ([safe_cell(v) for v in row] for row in rows)
    if fmt == "csv":
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(headings)
        writer.writerows(cells)
        response = Response(out.getvalue(), mimetype="text/csv")
    else:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(title[:31])
        sheet.append(list(headings))
        for row in cells:
            sheet.append(row)
        data = io.BytesIO()
        book.save(data)
        response = Response(data.getvalue(), mimetype=_XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename={name}.{fmt}"
    return response
