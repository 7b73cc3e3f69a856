"""Grid notice boards as PDF: read back with poppler (pdftotext, pdfinfo) as a printer
would get them, and drawn to PNG to be looked at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import client_as



@pytest.fixture(autouse=True)
def poppler() -> None:
    if shutil.which("pdftotext") is None:
        pytest.fail("poppler-utils is not installed (make test installs it)")


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "board.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def pdf_info(pdf: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def test_a_grids_notice_board_is_one_a4_page_in_chinese_with_its_cadres(app, session, world, role_users, tmp_path):
    world.leader.phone_public = True
    session.flush()
    response = client_as(app, "community").get(f"/areas/{world.grid_west.id}/notice-board.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    info = pdf_info(response.data, tmp_path)
    assert info["Pages"].strip() == "1" and "(A4)" in info["Page size"]  # A4 in points
    text = pdf_text(response.data, tmp_path)
    for shown in ("网格公示牌", "文澜一网格", "测试镇 › 文澜社区", "王五", "县委常委", "包联社区县领导",
                  "县城管执法局", "13700009999", "扫码查看责任人"):
        assert shown in text, shown
    assert "13800001234" not in text  # 张三's phone is not public (and he is the building's)
    assert f"/q/{world.grid_west.public_code}" in text
    # Chinese is set in a CJK font embedded in the file, not left to the printer.
    fonts = subprocess.run(["pdffonts", str(tmp_path / "info.pdf")], capture_output=True, text=True).stdout
    assert re.search(r"Noto-?Sans-?CJK\S*\s.*\byes\b", fonts), fonts
    target = Path(os.environ.get("GRIDWALK_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(tmp_path / "info.pdf"),
                    str(target / "notice-board")], check=True)


def test_a_communitys_boards_come_in_one_file_one_page_each_on_a3(app, world, role_users, tmp_path):
    response = client_as(app, "community").get(f"/areas/{world.community.id}/notice-board.pdf?paper=a3")
    assert response.status_code == 200
    info = pdf_info(response.data, tmp_path)
    assert info["Pages"].strip() == "3"  # two grids and a compound
    assert "(A3)" in info["Page size"]  # A3
    text = pdf_text(response.data, tmp_path)
    assert all(name in text for name in ("文澜一网格", "文澜二网格", "贡水花园"))


@pytest.mark.parametrize(("role", "path", "status", "code"), [
    ("community", "/areas/{grid}/notice-board.pdf?paper=letter", 400, "bad_paper"),
    ("grid", "/areas/{other}/notice-board.pdf", 403, "forbidden"),
    ("community", "/areas/999999/notice-board.pdf", 404, "not_found"),
])
def test_a_bad_board_request_is_refused_in_the_error_shape(app, world, role_users, role, path, status, code):
    url = path.format(grid=world.grid_west.id, other=world.other_grid.id)
    response = client_as(app, role).get(url, headers={"Accept": "application/json"})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
