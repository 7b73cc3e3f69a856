"""The demo county: a deterministic model of 宣恩县's county seat (珠山镇) and its neighbour
椒园镇 — the area tree, street blocks of buildings and households, the people responsible
for them (四包四定) and a year of field work — for `gridwalk demo`, browser tests and
benchmarks.

`plan(scale, today)` builds every row in memory, without a database; `load` writes a plan
with COPY. The same scale and the same day give the same rows: randomness comes from
`random.Random` streams seeded by name, and nothing depends on set or dict order. All
activity (patrols, issues, visits, wishes, service) lies in the year that ends the day
before `today`, so a demo loaded today looks alive; `load` uses today's date and records it
in the county's properties (`{"demo": {"scale": …, "today": …}}`) so the plan can be rebuilt.

The layout is synthetic but plausible: each township is a rotated street lattice whose cells
are grids (about 400 m × 320 m); neighbouring cells share their jittered corners and edge
midpoints, so a community (a block of cells) is tiled exactly by its grids. Inside a grid, six
street blocks hold compounds (小区) of apartment slabs or towers, rows of self-built houses, or
a public facility; streets keep every footprint apart and inside its area. The county polygon
is an irregular star south of the towns, grown as needed so any scale fits inside it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg2.extensions
import shapely
from psycopg2 import sql
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from sqlalchemy import String, func, select
from sqlalchemy.orm import Session

from geo import accounts
from geo.db import TIMEZONE
from geo.errors import N_, Conflict
from geo.geometry import as_multipolygon, to_hex_ewkb
from geo.models import Area, Base, User

Row = tuple[Any, ...]

COUNTY_CODE = "422825"
COUNTY_NAME = "宣恩县"
SEED = "gridwalk-demo-422825"

# The county seat (WGS 84); metres per degree there, for the local east/north frame.
SEAT_LON, SEAT_LAT = 109.478, 29.991
_PHI = math.radians(SEAT_LAT)
M_PER_DEG_LAT = 111132.92 - 559.82 * math.cos(2 * _PHI) + 1.175 * math.cos(4 * _PHI)
M_PER_DEG_LON = 111412.84 * math.cos(_PHI) - 93.5 * math.cos(3 * _PHI)
# Stored coordinates are rounded to 1e-7° (about 1 cm) so a plan and a database read-back
# agree bit for bit; every gap in the layout is far wider than that.
DIGITS = 7

# A grid's nominal size; its corners and edge midpoints stray up to JITTER metres, so the
# inner streets (at MARGIN from the nominal edge) always lie inside it.
CELL_W, CELL_H = 400.0, 320.0
JITTER = 18.0
RING = 22.0  # the street just inside a grid's edge: where patrols walk
MARGIN = 28.0  # where a grid's street blocks begin
STREET = 14.0  # width of the streets between blocks
BLOCK_COLS, BLOCK_ROWS = 3, 2
BLOCK_W = (CELL_W - 2 * MARGIN - (BLOCK_COLS - 1) * STREET) / BLOCK_COLS
BLOCK_H = (CELL_H - 2 * MARGIN - (BLOCK_ROWS - 1) * STREET) / BLOCK_ROWS
COMPOUND_WALL = 3.0  # a compound's wall stands this far inside its block
COMPOUND_YARD = 5.0  # and its buildings this much further in
# Rural land around a town's built-up patch: a buffer of half this, pushed out by up to
# 1.9 × half again in a wobble (metres).
TOWNSHIP_MARGIN = 2400.0

CST = dt.timezone(dt.timedelta(hours=8), "CST")

# --- names ------------------------------------------------------------------------------

TOWNSHIPS = (
    # code, name, communities per scale, rotation of its streets (degrees), base names
    ("422825100", "珠山镇", 4, 18.0,
     ("文澜", "东门", "西门", "南门", "贡水", "松坪", "白水", "七里桥", "桐子营", "中坝",
      "兴隆", "凤凰", "莲花坝", "竹坝", "龙潭", "狮子关")),
    ("422825101", "椒园镇", 2, -12.0,
     ("椒园", "黄坪", "水田坝", "庆阳坝", "石马", "茶园", "锣圈岩", "洗马坪")),
)

ROADS = ("民族路", "文澜路", "贡水路", "解放路", "和平路", "建设路", "胜利路", "新华路",
         "人民路", "朝阳路", "沿河路", "环城路", "松坪路", "复兴路", "长安路", "滨江路")
STREETS = ("兴隆街", "松坪街", "凤凰街", "桥南街", "东门街", "西门街", "南门街", "中心街",
           "书院街", "府前街", "后坝街", "正街", "新街", "老街", "河街", "紫薇街")
COMPOUND_PREFIXES = ("贡水", "文澜", "锦绣", "阳光", "滨江", "和平", "兴隆", "福寿", "翰林",
                     "金色", "和谐", "书香", "龙潭", "凤凰", "桂花", "茶园", "珠山", "民族",
                     "仙山", "白水", "长潭", "清江", "紫薇", "椒园", "东方", "盛世")
COMPOUND_SUFFIXES = ("花园", "小区", "家园", "华庭", "苑", "丽景", "名都", "雅苑", "新城",
                     "公寓", "嘉园")

SURNAMES = ("向向向田田田彭彭张张王王李李刘刘杨杨陈黄谭覃姚龚冉滕邓周吴胡朱唐罗谢石秦"
            "蒋曾舒肖龙")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰红梅建国志文斌宇浩晨欣怡婷"
         "雪琳波辉鹏飞俊峰春燕凤丹萍成林清松德荣福贵")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150",
                   "151", "152", "153", "155", "156", "157", "158", "159", "177", "180",
                   "181", "182", "183", "185", "186", "187", "188", "189", "199")

# County units, in the order they take up responsibility. The kind decides their titles.
COUNTY_UNITS = (
    ("县委办公室", "department"), ("县政府办公室", "department"), ("县委组织部", "department"),
    ("县委宣传部", "department"), ("县委政法委", "department"), ("县纪委监委", "department"),
    ("县委统战部", "department"),
    ("县城管执法局", "department"), ("县公安局", "department"), ("县住建局", "department"),
    ("县税务局", "department"), ("县自然资源和规划局", "department"),
    ("县应急管理局", "department"), ("县市场监督管理局", "department"),
    ("县民政局", "department"), ("县教育局", "department"), ("县卫生健康局", "department"),
    ("县交通运输局", "department"), ("县水利和湖泊局", "department"),
    ("县发展和改革局", "department"), ("县财政局", "department"),
    ("县人力资源和社会保障局", "department"), ("县农业农村局", "department"),
    ("县文化和旅游局", "department"), ("县退役军人事务局", "department"),
    ("县医疗保障局", "department"), ("县林业局", "department"), ("县统计局", "department"),
    ("县审计局", "department"), ("县司法局", "department"), ("县信访局", "department"),
    ("县经济商务和信息化局", "department"), ("县民族宗教事务局", "department"),
    ("县生态环境分局", "department"), ("县融媒体中心", "department"),
    ("县消防救援大队", "department"), ("县总工会", "department"), ("县妇联", "department"),
    ("县第一中学", "school"), ("县民族实验小学", "school"), ("县职业教育中心", "school"),
    ("县人民医院", "hospital"), ("县中医医院", "hospital"), ("县妇幼保健院", "hospital"),
    ("县供电公司", "company"), ("中国移动宣恩分公司", "company"),
    ("中国电信宣恩分公司", "company"), ("中国联通宣恩分公司", "company"),
    ("县自来水公司", "company"), ("宣恩农商银行", "company"),
    ("珠山镇人民政府", "township"), ("椒园镇人民政府", "township"),
)
# Units that lead standing committee members' offices; they walk no compounds of their own.
PARTY_OFFICES = 7

# Head title by the end of a unit's name, then deputy and staff titles by kind.
HEAD_TITLES = (("办公室", "主任"), ("部", "部长"), ("政法委", "常务副书记"), ("监委", "副书记"),
               ("中心", "主任"), ("大队", "大队长"), ("工会", "常务副主席"), ("妇联", "主席"),
               ("局", "局长"), ("医院", "院长"), ("院", "院长"), ("中学", "校长"),
               ("小学", "校长"), ("公司", "总经理"), ("银行", "行长"), ("政府", "镇长"))
# A deputy of a department or township is 副 + the head's title.
STAFF_TITLES = {
    "department": ("", ("科长", "副科长", "一级主任科员", "四级主任科员", "科员")),
    "school": ("副校长", ("教师", "教研组长", "政教处主任", "年级主任")),
    "hospital": ("副院长", ("主治医师", "护士长", "医生", "药剂师")),
    "company": ("副总经理", ("部门经理", "客户经理", "职员")),
    "township": ("", ("党政办主任", "干部", "综治办主任")),
}

STANDING_COMMITTEE = (
    ("县委书记", 0), ("县委副书记、县长", 1), ("县委副书记", 0), ("县委常委、常务副县长", 1),
    ("县委常委、组织部部长", 2), ("县委常委、宣传部部长", 3), ("县委常委、政法委书记", 4),
    ("县委常委、县纪委书记、县监委主任", 5), ("县委常委、统战部部长", 6),
    ("县委常委、县委办公室主任", 0), ("县委常委、副县长", 1),
)

FACILITIES_SEAT = (
    # name, [(building, use, width, depth, floors)]
    ("县行政中心", [("县委办公楼", "office", 46, 16, 6), ("县政府办公楼", "office", 46, 16, 6)]),
    ("县人民医院", [("县人民医院门诊楼", "hospital", 50, 20, 5),
                   ("县人民医院住院楼", "hospital", 40, 16, 12)]),
    ("县第一中学", [("县第一中学教学楼", "school", 60, 15, 5),
                   ("县第一中学学生宿舍", "school", 40, 12, 6), ("县第一中学食堂", "school", 24, 18, 2)]),
    ("县公安局", [("县公安局办公楼", "office", 40, 16, 7)]),
    ("民族商城", [("民族商城", "commercial", 60, 36, 4)]),
    ("县中医医院", [("县中医医院综合楼", "hospital", 44, 18, 8)]),
    ("县民族实验小学", [("县民族实验小学教学楼", "school", 56, 14, 4),
                     ("县民族实验小学综合楼", "school", 30, 14, 4)]),
    ("县城管执法局", [("县城管执法局办公楼", "office", 36, 14, 5)]),
    ("县图书馆", [("县图书馆", "public", 40, 24, 4), ("县文化馆", "public", 30, 20, 3)]),
    ("汽车客运站", [("宣恩汽车客运站", "public", 50, 24, 2)]),
    ("县住建局", [("县住建局办公楼", "office", 36, 14, 6)]),
    ("县税务局", [("县税务局办公楼", "office", 36, 14, 6)]),
    ("县妇幼保健院", [("县妇幼保健院", "hospital", 40, 16, 6)]),
    ("县供电公司", [("县供电公司营业楼", "office", 34, 16, 6)]),
    ("中国移动宣恩分公司", [("中国移动宣恩分公司营业楼", "office", 30, 14, 5)]),
)
# The other town's own facilities; {town} is its name.
FACILITIES_TOWN = (
    ("{town}人民政府", [("{town}政府办公楼", "office", 40, 14, 5)]),
    ("{town}中心卫生院", [("{town}中心卫生院", "hospital", 40, 16, 4)]),
    ("{town}中心学校", [("{town}中心学校教学楼", "school", 54, 14, 4),
                      ("{town}中心学校宿舍", "school", 30, 12, 4)]),
)
FACILITIES_COMMUNITY = (
    ("党群服务中心", "public", 30, 18, 3), ("幼儿园", "school", 36, 18, 3),
    ("卫生服务站", "hospital", 24, 14, 2), ("农贸市场", "commercial", 50, 30, 2),
)

ISSUE_CATEGORIES = ("环境卫生", "垃圾分类", "违章搭建", "占道经营", "道路设施", "安全隐患", "绿化", "其他")
ISSUE_DESCRIPTIONS = {
    "环境卫生": ("楼道内堆放杂物，影响通行", "绿化带内积存生活垃圾", "背街小巷有积水和淤泥",
                 "垃圾桶周边污水横流，气味大"),
    "垃圾分类": ("分类投放点混投严重", "厨余垃圾桶破损未更换", "可回收物箱满溢未清运"),
    "违章搭建": ("顶楼私自搭建彩钢棚", "临街商户违规搭建雨棚", "一楼住户私自圈占公共绿地"),
    "占道经营": ("流动摊贩在人行道占道经营", "店外摆放桌椅占用人行道", "早市摊点延伸到机动车道"),
    "道路设施": ("人行道地砖松动破损", "路灯不亮", "窨井盖缺失", "减速带损坏"),
    "安全隐患": ("电动车在楼道内充电", "消防通道被车辆堵塞", "老旧电线私拉乱接", "挡土墙出现裂缝"),
    "绿化": ("行道树枯死需补植", "绿化带被踩踏毁损", "树枝遮挡路灯和监控"),
    "其他": ("夜间噪音扰民", "小区门禁损坏", "犬只未拴绳", "楼顶水箱漏水"),
}
# Who an issue goes to when the grid cannot settle it.
CATEGORY_DEPARTMENTS = {
    "环境卫生": "县城管执法局", "垃圾分类": "县城管执法局", "违章搭建": "县自然资源和规划局",
    "占道经营": "县城管执法局", "道路设施": "县交通运输局", "安全隐患": "县应急管理局",
    "绿化": "县住建局", "其他": "县公安局",
}
MEETING_DECISIONS = ("{unit}牵头，{days}日内整改到位", "现场明确由{unit}负责，{days}日内办结",
                     "{unit}会同物业现场处置，{days}日内回访", "责令当事人{days}日内自行整改，{unit}跟踪督办")

VISIT_NOTES = ("了解家庭近况，宣传垃圾分类", "询问老人身体状况，提醒按时服药", "协助办理医保缴费",
               "宣传防电信诈骗知识", "排查电动车充电隐患", "了解孩子上学情况", "宣传文明城市创建",
               "听取对小区物业的意见", "协助预约家庭医生签约", "宣传防汛避险知识")
VISIT_NEEDS = ("希望楼道加装照明", "希望小区增设充电桩", "反映下水道堵塞", "希望帮助联系就业",
               "希望协调老年助餐", "反映楼上漏水")
WISH_TITLES = ("为独居老人配一副老花镜", "孩子需要一套学习桌椅", "帮忙修理漏水的水龙头",
               "为孙子买一个新书包", "希望楼道安装声控灯", "想学会用智能手机挂号", "需要一辆轮椅",
               "为留守儿童辅导功课", "帮忙换一台电饭煲", "希望有人陪老人去医院复查",
               "想要一台收音机", "为行动不便老人理发")
WISH_NOTES = ("已送达，住户很满意", "心愿已圆，现场合影留念", "已协调安装完毕")
SERVICE_ACTIVITIES = ("社区环境卫生整治", "文明交通劝导", "政策宣讲", "关爱留守儿童",
                      "敬老院志愿服务", "垃圾分类宣传", "防汛值守", "义务植树", "反诈宣传进小区",
                      "社区义诊协助")

POSTS = {
    "standing_committee": ("包联社区县领导", "统筹推进社区治理，每月到社区调研不少于一次，协调解决重大问题",
                           "社区矛盾不上交、平安不出事、服务不缺位"),
    "department": ("社区大党委兼职委员单位", "参与社区大党委议事，每季度认领共建项目，派员参加联合步巡",
                   "共建项目按期完成，认领问题办结率100%"),
    "grid_member": ("专职网格员", "每日巡查网格，采集更新人口房屋信息，第一时间上报问题",
                    "网格信息准确率100%，问题发现上报不超过24小时"),
    "grid_unit": ("网格包保单位", "每月参与网格步巡不少于两次，认领并办结网格内问题",
                  "网格问题当月办结，群众满意率90%以上"),
    "compound": ("小区包保责任人", "每周进小区巡查一次，收集居民诉求，督促物业整改",
                 "小区环境整洁有序，矛盾纠纷就地化解"),
    "building": ("楼栋长", "每周巡查楼栋，排查消防通道堵塞、电动车入户充电等安全隐患",
                 "楼栋安全隐患动态清零，住户诉求24小时内响应"),
    "household": ("联系户党员", "每周走访联系户，了解家庭情况，收集微心愿",
                  "联系户走访全覆盖，诉求件件有回应"),
}

CN_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 12 → 十二, 35 → 三十五, 120 → 一百二十 (for grid and phase names)."""
    if n >= 1000:
        return str(n)
    if n < 10:
        return CN_DIGITS[n]
    if n < 20:
        return "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return CN_DIGITS[n // 10] + "十" + (CN_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + CN_DIGITS[rest] if rest < 10 else
                                 ("一" if rest < 20 else "") + chinese_number(rest))
    return CN_DIGITS[n // 100] + "百" + tail


# --- the plan ---------------------------------------------------------------------------


@dataclass
class Plan:
    """Every row of the demo county, with references between tables as positions in the
    referenced table's list (see `TABLES`). Geometries are hex EWKB in SRID 4326."""

    scale: int
    today: dt.date
    areas: list[Row] = field(default_factory=list)
    units: list[Row] = field(default_factory=list)
    buildings: list[Row] = field(default_factory=list)
    households: list[Row] = field(default_factory=list)
    people: list[Row] = field(default_factory=list)
    users: list[Row] = field(default_factory=list)
    assignments: list[Row] = field(default_factory=list)
    patrols: list[Row] = field(default_factory=list)
    patrol_units: list[Row] = field(default_factory=list)
    patrol_members: list[Row] = field(default_factory=list)
    issues: list[Row] = field(default_factory=list)
    issue_events: list[Row] = field(default_factory=list)
    wishes: list[Row] = field(default_factory=list)
    service_records: list[Row] = field(default_factory=list)
    # Visits are many (about a million at scale 50), so they are drawn when written from
    # one (person, households held) round per party member.
    visit_rounds: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)

    def visits(self) -> Iterator[Row]:
        """Weekly-ish visits of each party member to the households they hold."""
        for person, households in self.visit_rounds:
            yield from _visits_of(self, person, households)


@dataclass(frozen=True)
class TableSpec:
    """The plan columns written to one table, and whether its ids must be known beforehand
    (because later tables refer to its rows)."""

    name: str
    columns: tuple[str, ...]
    reserve_ids: bool = False


# Write order: every table after the tables it refers to.
TABLES = (
    TableSpec("areas", ("code", "name", "level", "parent_id", "geom", "properties"), True),
    TableSpec("units", ("name", "kind", "phone"), True),
    TableSpec("buildings", ("name", "address", "floors", "use", "area_id", "geom"), True),
    TableSpec("households", ("building_id", "unit_no", "floor", "room", "residents", "head_name",
                         "phone", "active"), True),
    TableSpec("people", ("name", "unit_id", "title", "phone", "is_party_member",
                     "registered_area_id", "registered_on"), True),
    TableSpec("users", ()),  # through geo.accounts, for the password hashing
    TableSpec("assignments", ("kind", "area_id", "building_id", "household_id", "unit_id",
                          "person_id", "post", "duty", "target", "valid_from", "valid_to")),
    TableSpec("patrols", ("area_id", "title", "started_at", "ended_at", "track", "led_by_id"), True),
    TableSpec("patrol_units", ("patrol_id", "unit_id")),
    TableSpec("patrol_members", ("patrol_id", "person_id")),
    TableSpec("issues", ("patrol_id", "category", "description", "status", "geom", "building_id",
                     "area_id", "unit_id", "reported_by_id", "reported_at", "deadline",
                     "closed_at"), True),
    TableSpec("issue_events", ("issue_id", "kind", "at", "person_id", "unit_id", "note", "geom",
                           "data")),
    TableSpec("visits", ("household_id", "person_id", "visited_on", "hours", "note", "needs",
                     "by_assignee")),
    TableSpec("wishes", ("household_id", "title", "description", "status", "raised_on",
                     "claimed_by_person_id", "claimed_by_unit_id", "claimed_on", "promised_on",
                     "fulfilled_on", "note", "rating")),
    TableSpec("service_records", ("person_id", "served_on", "activity", "hours", "verified_by_id")),
)
# Which table a reference column points into (by position in the plan).
REFERENCES = {
    "parent_id": "areas", "area_id": "areas", "registered_area_id": "areas",
    "unit_id": "units", "claimed_by_unit_id": "units",
    "building_id": "buildings", "household_id": "households",
    "person_id": "people", "led_by_id": "people", "claimed_by_person_id": "people",
    "verified_by_id": "people", "patrol_id": "patrols", "issue_id": "issues",
    "reported_by_id": "users",
}


def _stream(*parts: object) -> random.Random:
    """An independent random stream, so one section's changes leave the others alone."""
    return random.Random(":".join(map(str, (SEED, *parts))))


def _metric_to_lonlat(xy: np.ndarray) -> np.ndarray:
    lon = SEAT_LON + xy[:, 0] / M_PER_DEG_LON
    lat = SEAT_LAT + xy[:, 1] / M_PER_DEG_LAT
    return np.round(np.column_stack([lon, lat]), DIGITS)


class NameMaker:
    """Names and phone numbers drawn from one stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def name(self) -> str:
        rng = self.rng
        given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
        return rng.choice(SURNAMES) + given

    def mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"


# --- layout -----------------------------------------------------------------------------


class Lattice:
    """A township's street lattice in its own metres (x along its main streets). Grid cells
    share their jittered corners and edge midpoints, so neighbouring grids meet exactly."""

    def __init__(self, rng: random.Random, ncols: int, nrows: int, center: tuple[float, float],
                 angle: float) -> None:
        self.ncols, self.nrows = ncols, nrows
        self.center, self.angle = center, math.radians(angle)
        j = JITTER
        self.corners = [[(rng.uniform(-j, j), rng.uniform(-j, j)) for _ in range(nrows + 1)]
                        for _ in range(ncols + 1)]
        self.bottoms = [[(rng.uniform(-0.15, 0.15) * CELL_W, rng.uniform(-j, j))
                         for _ in range(nrows + 1)] for _ in range(ncols)]
        self.sides = [[(rng.uniform(-j, j), rng.uniform(-0.15, 0.15) * CELL_H)
                       for _ in range(nrows)] for _ in range(ncols + 1)]

    def cell_ring(self, i: int, j: int) -> list[tuple[float, float]]:
        """Cell (i, j)'s outline, counter-clockwise: corners and edge midpoints."""
        def corner(a: int, b: int) -> tuple[float, float]:
            dx, dy = self.corners[a][b]
            return a * CELL_W + dx, b * CELL_H + dy

        def bottom(a: int, b: int) -> tuple[float, float]:
            dx, dy = self.bottoms[a][b]
            return (a + 0.5) * CELL_W + dx, b * CELL_H + dy

        def side(a: int, b: int) -> tuple[float, float]:
            dx, dy = self.sides[a][b]
            return a * CELL_W + dx, (b + 0.5) * CELL_H + dy

        ring = [corner(i, j), bottom(i, j), corner(i + 1, j), side(i + 1, j),
                corner(i + 1, j + 1), bottom(i, j + 1), corner(i, j + 1), side(i, j)]
        return ring + ring[:1]

    def to_metric(self, xy: np.ndarray) -> np.ndarray:
        x = xy[:, 0] - self.ncols * CELL_W / 2
        y = xy[:, 1] - self.nrows * CELL_H / 2
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        return np.column_stack([self.center[0] + cos * x - sin * y,
                                self.center[1] + sin * x + cos * y])

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        return _metric_to_lonlat(self.to_metric(np.asarray(xy, dtype=float).reshape(-1, 2)))


@dataclass
class GridCell:
    """What the activity generators need to know about one grid."""

    position: int  # in Layout.grids
    area: int
    community: int
    lattice: Lattice
    i: int
    j: int
    community_unit: int
    member: int = -1  # its grid member (网格员)
    unit: int = -1  # its 包保 unit, if any
    buildings: list[int] = field(default_factory=list)
    compounds: list[tuple[int, tuple[float, float, float, float]]] = field(default_factory=list)

    def street_lines(self) -> tuple[list[float], list[float]]:
        """x of the grid's north–south streets and y of its east–west ones (lattice metres)."""
        x0, y0 = self.i * CELL_W, self.j * CELL_H
        xs = [x0 + RING] + [x0 + MARGIN + k * (BLOCK_W + STREET) - STREET / 2
                            for k in range(1, BLOCK_COLS)] + [x0 + CELL_W - RING]
        ys = [y0 + RING] + [y0 + MARGIN + k * (BLOCK_H + STREET) - STREET / 2
                            for k in range(1, BLOCK_ROWS)] + [y0 + CELL_H - RING]
        return xs, ys


@dataclass
class BuildingSpec:
    rect: tuple[float, float, float, float]
    name: str
    address: str
    floors: int
    use: str
    area: int
    # households: (stair units, rooms per floor, households in a house) — 0 if none
    units: int = 0
    rooms: int = 0
    house_households: int = 0


class Layout:
    """Builds the area tree and buildings into a plan, remembering the grids for later."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rng = _stream("layout", plan.scale)
        self.grids: list[GridCell] = []
        self.lattices: list[Lattice] = []  # one per township
        self.communities: list[int] = []  # area positions
        self.building_specs: list[BuildingSpec] = []
        self.building_grid: list[int] = []  # grid (position in self.grids) per building
        self.house_numbers: dict[str, int] = {}
        self.compound_names: dict[str, int] = {}
        # Named facilities waiting for a facility block, per township area.
        self.facilities: dict[int, list[tuple[str, list[tuple[str, str, int, int, int]]]]] = {}
        self.community_units: dict[int, int] = {}  # community area → its 居委会 unit

    # Areas hold shapely geometries until `finish` turns them into EWKB.
    def add_area(self, code: str, name: str, level: str, parent: int | None, geom: Any,
                 properties: dict[str, Any] | None = None) -> int:
        self.plan.areas.append((code, name, level, parent, geom, properties or {}))
        return len(self.plan.areas) - 1

    def build(self) -> None:
        scale = self.plan.scale
        rng = self.rng
        # The county comes first (parents before children); its shape comes last.
        county = self.add_area(COUNTY_CODE, COUNTY_NAME, "county", None, None, {
            "demo": {"scale": scale, "today": self.plan.today.isoformat()}})
        placed: list[tuple[Lattice, list[tuple[int, int, int, str]]]] = []
        center = (0.0, 0.0)
        previous_reach = 0.0
        for index, (code, name, per_scale, angle, bases) in enumerate(TOWNSHIPS):
            count = per_scale * scale
            patches, ncols, nrows = self._arrange(count)
            reach = math.hypot(ncols * CELL_W, nrows * CELL_H) / 2
            if index:
                # The next town lies up the valley to the north-east, clear of the last one.
                distance = previous_reach + reach + 2 * TOWNSHIP_MARGIN + 3000
                bearing = math.radians(35)
                center = (distance * math.sin(bearing), distance * math.cos(bearing))
            lattice = Lattice(rng, ncols, nrows, center, angle)
            self.lattices.append(lattice)
            names = self._community_names(bases, count)
            placed.append((lattice, [(c, r, w, n) for (c, r, w), n in zip(patches, names)]))
            previous_reach = reach
        towns = []  # township outlines in metres, for the county around them
        for (code, name, *_), (lattice, patches) in zip(TOWNSHIPS, placed):
            town = self._township_shape(lattice)
            towns.append(town)
            township = self.add_area(code, name, "township", county,
                                     as_multipolygon(shapely.transform(town, _metric_to_lonlat)))
            queue = FACILITIES_SEAT if not self.facilities else FACILITIES_TOWN
            self.facilities[township] = [
                (f.format(town=name), [(b.format(town=name), *rest) for b, *rest in buildings])
                for f, buildings in queue]
            for number, (col, row, width, community_name) in enumerate(patches, start=1):
                self._community(township, f"{code}{number:03d}", community_name, lattice,
                                col, row, width)
        self._county_shape(county, towns)

    def _arrange(self, count: int) -> tuple[list[tuple[int, int, int]], int, int]:
        """Communities as 2-cell-high strips of 2 or 3 cells, packed in rows to a squarish
        patch; each row starts up to a cell in, for a ragged edge."""
        rng = self.rng
        widths = [rng.choice((2, 3)) for _ in range(count)]
        rows = max(1, round(math.sqrt(count * 2.5 * CELL_W / (2 * CELL_H))))
        per_row = [count // rows + (1 if r < count % rows else 0) for r in range(rows)]
        patches, k, ncols = [], 0, 0
        for r, n in enumerate(per_row):
            col = rng.randint(0, 1)
            for _ in range(n):
                patches.append((col, 2 * r, widths[k]))
                col += widths[k]
                k += 1
            ncols = max(ncols, col)
        return patches, ncols, 2 * rows

    def _community_names(self, bases: Sequence[str], count: int) -> list[str]:
        names = []
        for k in range(count):
            base, round_ = bases[k % len(bases)], k // len(bases)
            names.append(f"{base}{chinese_number(round_ + 1) if round_ else ''}社区")
        return names

    def _township_shape(self, lattice: Lattice) -> Polygon:
        """The town's built-up patch with a wide, wobbly rural margin."""
        rng = self.rng
        corners = np.array([(i * CELL_W, j * CELL_H) for i in (0, lattice.ncols)
                            for j in (0, lattice.nrows)])
        hull = MultiPoint(lattice.to_metric(corners)).convex_hull.buffer(
            TOWNSHIP_MARGIN / 2, quad_segs=8)
        cx, cy = hull.centroid.x, hull.centroid.y
        a, b = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)
        wobbly = []
        for x, y in hull.exterior.coords[:-1]:
            theta = math.atan2(y - cy, x - cx)
            push = TOWNSHIP_MARGIN / 2 * (1 + 0.6 * math.sin(3 * theta + a)
                                          + 0.3 * math.sin(7 * theta + b))
            r = math.hypot(x - cx, y - cy)
            wobbly.append((cx + (r + push) * math.cos(theta), cy + (r + push) * math.sin(theta)))
        return Polygon(wobbly).union(hull)

    def _county_shape(self, county: int, towns: list[Polygon]) -> None:
        """An irregular star centred south of the towns (the real seat lies in the county's
        north), large enough to hold them all."""
        rng = self.rng
        center = np.mean([town.centroid.coords[0] for town in towns], axis=0) - (0.0, 8000.0)
        reach = max(float(np.hypot(*(shapely.get_coordinates(town) - center).T).max()) for town in towns)
        # The wobble below never pulls the edge in by more than a quarter.
        radius = max(26000.0, (reach + 2000) / 0.75)
        a, b, c = (rng.uniform(0, 2 * math.pi) for _ in range(3))
        ring = []
        for k in range(180):
            theta = 2 * math.pi * k / 180
            # Longer to the south, as the real county is.
            r = radius * (1 + 0.12 * math.sin(2 * theta + a) + 0.08 * math.sin(3 * theta + b)
                          + 0.04 * math.sin(7 * theta + c)) * (1 + 0.15 * max(0.0, -math.sin(theta)))
            ring.append((center[0] + r * math.cos(theta), center[1] + r * math.sin(theta)))
        code, name, level, parent, _, props = self.plan.areas[county]
        shape = shapely.transform(Polygon(ring), _metric_to_lonlat)
        self.plan.areas[county] = (code, name, level, parent, as_multipolygon(shape), props)

    def _community(self, township: int, code: str, name: str, lattice: Lattice, col: int,
                   row: int, width: int) -> None:
        rng = self.rng
        cells = [(i, j) for j in (row, row + 1) for i in range(col, col + width)]
        polygons = [Polygon(lattice.to_lonlat(np.array(lattice.cell_ring(i, j)))) for i, j in cells]
        community = self.add_area(code, name, "community", township,
                                  as_multipolygon(shapely.union_all(polygons)))
        self.communities.append(community)
        self.plan.units.append((f"{name}居委会", "community", _unit_phone(rng)))
        unit = len(self.plan.units) - 1
        self.community_units[community] = unit
        for number, ((i, j), polygon) in enumerate(zip(cells, polygons), start=1):
            grid = self.add_area(f"{code}-{number:02d}", f"{name}第{chinese_number(number)}网格",
                                 "grid", community, as_multipolygon(polygon))
            cell = GridCell(len(self.grids), grid, community, lattice, i, j, unit)
            self.grids.append(cell)
            self._blocks(cell, township)

    def _blocks(self, cell: GridCell, township: int) -> None:
        rng = self.rng
        kinds = ["compound"] * rng.choice((2, 2, 3))
        if rng.random() < 0.35:
            kinds.append("facility")
        kinds += ["houses"] * (BLOCK_COLS * BLOCK_ROWS - len(kinds))
        rng.shuffle(kinds)
        x0, y0 = cell.i * CELL_W, cell.j * CELL_H
        street = STREETS[cell.j % len(STREETS)]
        if cell.j >= len(STREETS):
            street = street[:-1] + chinese_number(cell.j // len(STREETS) + 1) + street[-1]
        compounds_here = 0
        for k, kind in enumerate(kinds):
            a, b = k % BLOCK_COLS, k // BLOCK_COLS
            bx = x0 + MARGIN + a * (BLOCK_W + STREET)
            by = y0 + MARGIN + b * (BLOCK_H + STREET)
            block = (bx, by, bx + BLOCK_W, by + BLOCK_H)
            # Houses on the block's south side face the street below it: the township's
            # 街 for the grid's first block row, else a lane named after it.
            frontage = street if b == 0 else f"{street}{cell.i + 1}巷"
            if kind == "compound":
                compounds_here += 1
                self._compound(cell, block, compounds_here, frontage, township)
            elif kind == "facility":
                self._facility(cell, block, frontage, township)
            else:
                self._houses(cell, block, frontage, township)

    def _address(self, township: int, street: str) -> tuple[str, str]:
        number = self.house_numbers.get(street, 0) + 1
        self.house_numbers[street] = number
        place = f"{street}{number}号"
        return place, f"{self.plan.areas[township][1]}{place}"

    def _add_building(self, cell: GridCell, spec: BuildingSpec) -> None:
        cell.buildings.append(len(self.building_specs))
        self.building_specs.append(spec)
        self.building_grid.append(cell.position)

    def _compound(self, cell: GridCell, block: tuple[float, float, float, float], number: int,
                  street: str, township: int) -> None:
        rng = self.rng
        name = rng.choice(COMPOUND_PREFIXES) + rng.choice(COMPOUND_SUFFIXES)
        seen = self.compound_names.get(name, 0) + 1
        self.compound_names[name] = seen
        if seen > 1:
            name += f"{chinese_number(seen)}期"
        wall = (block[0] + COMPOUND_WALL, block[1] + COMPOUND_WALL,
                block[2] - COMPOUND_WALL, block[3] - COMPOUND_WALL)
        polygon = Polygon(cell.lattice.to_lonlat(np.array(
            [(wall[0], wall[1]), (wall[2], wall[1]), (wall[2], wall[3]), (wall[0], wall[3]),
             (wall[0], wall[1])])))
        grid_code = self.plan.areas[cell.area][0]
        _, address = self._address(township, street)
        compound = self.add_area(f"{grid_code}-{number:02d}", name, "compound", cell.area,
                                 as_multipolygon(polygon), {"address": address})
        cell.compounds.append((compound, block))

        x0, y0 = wall[0] + COMPOUND_YARD, wall[1] + COMPOUND_YARD
        x1, y1 = wall[2] - COMPOUND_YARD, wall[3] - COMPOUND_YARD
        style = rng.choices(("walkup", "midrise", "towers"), (0.55, 0.3, 0.15))[0]
        if style == "walkup":
            depth, length, gap_x, gap_y = 11.5, rng.uniform(24, 30), rng.uniform(8, 12), rng.uniform(24, 30)
            floors, units, rooms = (4, 7), 2, 2
        elif style == "midrise":
            depth, length, gap_x, gap_y = 13.0, rng.uniform(18, 22), rng.uniform(10, 14), rng.uniform(28, 34)
            floors, units, rooms = (9, 11), 1, 2
        else:
            depth, length, gap_x, gap_y = 16.0, 16.0, rng.uniform(16, 22), rng.uniform(22, 28)
            floors, units, rooms = (11, 18), 1, 2
        cols = int((x1 - x0 + gap_x) // (length + gap_x))
        rows = int((y1 - y0 + gap_y) // (depth + gap_y))
        # Centre the rows and columns in the yard.
        ox = x0 + (x1 - x0 - (cols * length + (cols - 1) * gap_x)) / 2
        oy = y0 + (y1 - y0 - (rows * depth + (rows - 1) * gap_y)) / 2
        spots = [(c, r) for r in range(rows) for c in range(cols)]
        keep = min(len(spots), rng.randint(4, 7) if style != "towers" else rng.randint(3, 5))
        for n, (c, r) in enumerate(sorted(rng.sample(spots, keep), key=lambda s: (s[1], s[0])), 1):
            bx, by = ox + c * (length + gap_x), oy + r * (depth + gap_y)
            self._add_building(cell, BuildingSpec(
                (bx, by, bx + length, by + depth), f"{name}{n}栋", f"{address}{name}{n}栋",
                rng.randint(*floors), "residential", compound, units=units, rooms=rooms))

    def _houses(self, cell: GridCell, block: tuple[float, float, float, float], street: str,
                township: int) -> None:
        """Self-built houses in rows along the block's south and north sides, and some in a
        middle row with gardens between."""
        rng = self.rng
        x0, y0, x1, y1 = block
        depth_max = 14.0
        rows = [(y0 + 2.5, False), (y1 - 2.5 - depth_max, False)]
        if rng.random() < 0.5:
            rows.append(((y0 + y1) / 2 - depth_max / 2, True))
        for y, sparse in rows:
            x = x0 + 2 + rng.uniform(0, 3)
            while True:
                width, depth = rng.uniform(8, 12), rng.uniform(10, depth_max)
                if x + width > x1 - 2:
                    break
                if not (sparse and rng.random() < 0.35):
                    place, address = self._address(township, street)
                    self._add_building(cell, BuildingSpec(
                        (x, y, x + width, y + depth), place, address, rng.randint(2, 4),
                        "residential", cell.area,
                        house_households=rng.choices((1, 2, 3), (0.55, 0.3, 0.15))[0]))
                x += width + rng.uniform(1.5, 3.5)

    def _facility(self, cell: GridCell, block: tuple[float, float, float, float], street: str,
                  township: int) -> None:
        queue = self.facilities[township]
        if queue:
            _, buildings = queue.pop(0)
        else:
            name, use, w, d, floors = self.rng.choice(FACILITIES_COMMUNITY)
            buildings = [(f"{self.plan.areas[cell.community][1]}{name}", use, w, d, floors)]
        # Shelf-pack the buildings into the block, leaving a forecourt.
        x, y, shelf = block[0] + 6, block[1] + 8, 0.0
        for name, use, width, depth, floors in buildings:
            if x + width > block[2] - 6:
                x, y, shelf = block[0] + 6, y + shelf + 12, 0.0
            if y + depth > block[3] - 6:
                break
            _, address = self._address(township, street)
            self._add_building(cell, BuildingSpec((x, y, x + width, y + depth), name, address,
                                                  floors, use, cell.area))
            x += width + 12
            shelf = max(shelf, depth)

    def finish(self) -> None:
        """Turn building rectangles into lon/lat polygons, grouped by lattice so the
        conversion runs on whole arrays, and check every shape."""
        rects = np.array([s.rect for s in self.building_specs], dtype=float).reshape(-1, 4)
        corners = np.stack([rects[:, [0, 1]], rects[:, [2, 1]], rects[:, [2, 3]],
                            rects[:, [0, 3]], rects[:, [0, 1]]], axis=1)
        lonlat = np.empty_like(corners)
        town = np.array([self.lattices.index(self.grids[g].lattice) for g in self.building_grid])
        for k, lattice in enumerate(self.lattices):
            rows = town == k
            lonlat[rows] = lattice.to_lonlat(corners[rows].reshape(-1, 2)).reshape(-1, 5, 2)
        polygons = shapely.polygons(lonlat)
        footprints = shapely.multipolygons(polygons, indices=np.arange(len(polygons)))
        area_geoms = [row[4] for row in self.plan.areas]
        if not (shapely.is_valid(footprints).all() and shapely.is_valid(area_geoms).all()):
            raise RuntimeError("demo layout produced an invalid polygon")
        self._check_nesting(footprints)
        geoms = to_hex_ewkb(footprints)
        self.plan.buildings = [
            (s.name, s.address, s.floors, s.use, s.area, g)
            for s, g in zip(self.building_specs, geoms)
        ]
        area_ewkb = to_hex_ewkb(area_geoms)
        self.plan.areas = [(code, name, level, parent, g, json.dumps(props, ensure_ascii=False))
                           for (code, name, level, parent, _, props), g in zip(self.plan.areas, area_ewkb)]

    def _check_nesting(self, footprints: np.ndarray) -> None:
        """Every area lies in its parent and every building in its area: the layout's
        arithmetic guarantees it, and this proves it before anything is written."""
        areas = self.plan.areas
        children = [row[4] for row in areas if row[3] is not None]
        parents = [areas[row[3]][4] for row in areas if row[3] is not None]
        slack = 1e-9  # degrees; shared edges are exact, this only absorbs GEOS rounding
        inside = shapely.covers(shapely.buffer(np.asarray(parents, dtype=object), slack), children)
        owners = [areas[s.area][4] for s in self.building_specs]
        housed = shapely.covers(np.asarray(owners, dtype=object), footprints)
        if not (inside.all() and housed.all()):
            raise RuntimeError("demo layout put an area or building outside its parent")


def _unit_phone(rng: random.Random) -> str:
    return f"0718-{rng.choice('38')}{rng.randrange(10**6):06d}"


# --- people and responsibility ------------------------------------------------------------


@dataclass
class Staff:
    """Who is who, by position in `plan.people`."""

    leaders: list[int] = field(default_factory=list)
    by_unit: dict[int, list[int]] = field(default_factory=dict)  # head first
    secretaries: dict[int, int] = field(default_factory=dict)  # community area → person
    members_by_unit: dict[int, list[int]] = field(default_factory=dict)
    member_community: dict[int, int] = field(default_factory=dict)
    unit_of: dict[int, int] = field(default_factory=dict)


def _head_title(name: str) -> str:
    return next(title for suffix, title in HEAD_TITLES if name.endswith(suffix))


def _people(plan: Plan, layout: Layout) -> Staff:
    rng = _stream("people", plan.scale)
    names = NameMaker(rng)
    staff = Staff()

    def person(name: str, unit: int | None, title: str, party: bool,
               community: int | None = None, registered_on: dt.date | None = None) -> int:
        plan.people.append((name, unit, title, names.mobile(), party, community, registered_on))
        index = len(plan.people) - 1
        if unit is not None:
            staff.unit_of[index] = unit
        return index

    for title, office in STANDING_COMMITTEE:
        staff.leaders.append(person(names.name(), office, title, True))
    for unit, (name, kind) in enumerate(COUNTY_UNITS):
        head = _head_title(name)
        deputy_title, titles = STAFF_TITLES[kind]
        deputy = deputy_title or "副" + head
        cadres = [person(names.name(), unit, head, True)]
        cadres += [person(names.name(), unit, deputy, True) for _ in range(rng.randint(1, 2))]
        cadres += [person(names.name(), unit, rng.choice(titles), rng.random() < 0.85)
                   for _ in range(rng.randint(2, 3))]
        staff.by_unit[unit] = cadres
    for community in layout.communities:
        unit = layout.community_units[community]
        secretary = person(names.name(), unit, "社区党委书记", True)
        staff.secretaries[community] = secretary
        staff.by_unit[unit] = [secretary]
    for cell in layout.grids:
        cell.member = person(names.name(), cell.community_unit, "专职网格员", rng.random() < 0.7)
        staff.by_unit[cell.community_unit].append(cell.member)
    return staff


def _households(plan: Plan, layout: Layout) -> list[list[int]]:
    """Dwellings of every building; returns each community's active households in order."""
    rng = _stream("households", plan.scale)
    names = NameMaker(rng)
    by_community: dict[int, list[int]] = {c: [] for c in layout.communities}
    for b, spec in enumerate(layout.building_specs):
        if spec.units:
            dwellings = [(u, f, f"{f}{r:02d}") for u in range(1, spec.units + 1)
                         for f in range(1, spec.floors + 1) for r in range(1, spec.rooms + 1)]
        else:
            dwellings = [(1, f, f"{f}01") for f in range(1, min(spec.house_households, spec.floors) + 1)]
        community = layout.grids[layout.building_grid[b]].community
        for unit_no, floor, room in dwellings:
            active = rng.random() > 0.025
            residents = rng.choices((1, 2, 3, 4, 5, 6), (14, 28, 27, 18, 9, 4))[0] if active else 0
            plan.households.append((b, unit_no, floor, room, residents, names.name(),
                                    names.mobile(), active))
            if active:
                by_community[community].append(len(plan.households) - 1)
    return [by_community[c] for c in layout.communities]


def _responsibility(plan: Plan, layout: Layout, staff: Staff,
                    community_households: list[list[int]]) -> dict[str, dict[int, int]]:
    """The four layers of 包保 (四包), each fixed by post, duty and target (四定). Returns the
    unit answering for each building and compound, for routing issues."""
    rng = _stream("responsibility", plan.scale)
    names = NameMaker(rng)
    campaign = plan.today - dt.timedelta(days=400)

    def assign(kind: str, role: str, unit: int | None, person: int | None, *, area: int | None = None,
               building: int | None = None, household: int | None = None,
               valid_from: dt.date | None = None, valid_to: dt.date | None = None) -> None:
        post, duty, target = POSTS[role]
        start = valid_from or campaign + dt.timedelta(days=rng.randint(0, 20))
        plan.assignments.append((kind, area, building, household, unit, person, post, duty,
                                 target, start, valid_to))

    # Party offices lead from above; every other county unit takes up places.
    pool = list(range(PARTY_OFFICES, len(COUNTY_UNITS)))
    departments = [u for u in pool if COUNTY_UNITS[u][1] == "department"]
    rng.shuffle(pool)
    cycle = 0

    def next_unit() -> tuple[int, int]:
        nonlocal cycle
        unit = pool[cycle % len(pool)]
        cadres = staff.by_unit[unit]
        person = cadres[1 + (cycle // len(pool)) % (len(cadres) - 1)]
        cycle += 1
        return unit, person

    for k, community in enumerate(layout.communities):
        leader = staff.leaders[k % len(staff.leaders)]
        assign("standing_committee", "standing_committee", None, leader, area=community)
        for d in (departments[(2 * k) % len(departments)], departments[(2 * k + 1) % len(departments)]):
            assign("department", "department", d, staff.by_unit[d][0], area=community)

    units_at: dict[str, dict[int, int]] = {"building": {}, "area": {}}
    for cell in layout.grids:
        assign("unit", "grid_member", cell.community_unit, cell.member, area=cell.area)
        if rng.random() < 0.5:
            cell.unit, person = next_unit()
            assign("unit", "grid_unit", cell.unit, person, area=cell.area)
        units_at["area"][cell.area] = cell.unit if cell.unit >= 0 else cell.community_unit
        for compound, _ in cell.compounds:
            if rng.random() < 0.05:
                # A unit handed over mid-year: the old assignment stays as history. It
                # holds up to the day before valid_to, the day the new one starts.
                old, old_person = next_unit()
                ended = plan.today - dt.timedelta(days=rng.randint(60, 200))
                assign("unit", "compound", old, old_person, area=compound, valid_to=ended)
                unit, person = next_unit()
                assign("unit", "compound", unit, person, area=compound, valid_from=ended)
            else:
                unit, person = next_unit()
                assign("unit", "compound", unit, person, area=compound)
            units_at["area"][compound] = unit
        for b in cell.buildings:
            spec = layout.building_specs[b]
            if spec.area != cell.area and rng.random() < 0.3:
                unit = units_at["area"][spec.area]
                cadres = staff.by_unit[unit]
                assign("unit", "building", unit, rng.choice(cadres[1:]), building=b)
                units_at["building"][b] = unit

    # 下沉党员: in-service party members registered with a community, each holding 10–30
    # of its households; about half of a community's households have one.
    for community, households in zip(layout.communities, community_households, strict=True):
        share = rng.uniform(0.45, 0.65)
        widest_gap = round(2 * 20 * (1 - share) / share)
        position = rng.randint(0, widest_gap)
        while position + 10 <= len(households):
            held = tuple(households[position:position + rng.randint(10, 30)])
            unit = rng.choice(pool)
            kind = COUNTY_UNITS[unit][1]
            plan.people.append((names.name(), unit, rng.choice(STAFF_TITLES[kind][1]),
                                names.mobile(), True, community,
                                plan.today - dt.timedelta(days=rng.randint(420, 1200))))
            member = len(plan.people) - 1
            staff.members_by_unit.setdefault(unit, []).append(member)
            staff.member_community[member] = community
            staff.unit_of[member] = unit
            for household in held:
                assign("party_member", "household", unit, member, household=household)
            plan.visit_rounds.append((member, held))
            position += len(held) + rng.randint(0, widest_gap)
    return units_at


def _users(plan: Plan, layout: Layout, staff: Staff) -> None:
    """One login per role; the grid and party logins work in 文澜社区's first grid."""
    community = layout.communities[0]
    grid = next(cell for cell in layout.grids if cell.community == community)
    grid_buildings = set(grid.buildings)
    party = next(member for member, held in plan.visit_rounds
                 if plan.households[held[0]][0] in grid_buildings)
    township = plan.areas[community][3]
    plan.users = [
        ("admin", "admin", None, None),
        ("county", "county", 0, None),
        ("township", "township", township, None),
        ("community", "community", community, staff.secretaries[community]),
        ("grid", "grid", grid.area, grid.member),
        ("party", "party", grid.area, party),
        ("viewer", "viewer", 0, None),
    ]


# --- a year of field work ------------------------------------------------------------------


def _at(day: dt.date, hour: float) -> dt.datetime:
    minutes = round(hour * 60)
    return dt.datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=CST)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


class Activity:
    """Patrols of every grid, the issues they and residents raise with their history,
    wishes and volunteer service, over the year that ends yesterday."""

    def __init__(self, plan: Plan, layout: Layout, staff: Staff,
                 units_at: dict[str, dict[int, int]]) -> None:
        self.plan, self.layout, self.staff, self.units_at = plan, layout, staff, units_at
        self.rng = _stream("activity", plan.scale)
        self.last = plan.today - dt.timedelta(days=1)
        self.first = plan.today - dt.timedelta(days=365)
        # Activity stops at midnight before `today`, so nothing lies in the future.
        self.cutoff = _at(plan.today, 0)
        self.unit_by_name = {row[0]: k for k, row in enumerate(plan.units)}
        self.grid_user = next(k for k, row in enumerate(plan.users) if row[0] == "grid")
        self.grid_user_area = plan.users[self.grid_user][2]
        self.leader_of = {row[1]: row[5] for row in plan.assignments if row[0] == "standing_committee"}

    def people_of(self, unit: int) -> list[int]:
        return self.staff.by_unit.get(unit, []) + self.staff.members_by_unit.get(unit, [])

    def run(self) -> None:
        core = [self.unit_by_name[n] for n in ("县城管执法局", "县公安局", "县住建局")]
        for cell in self.layout.grids:
            day = self.first + dt.timedelta(days=self.rng.randint(0, 20))
            while True:
                if day.weekday() >= 5:  # patrols walk on working days
                    day += dt.timedelta(days=7 - day.weekday())
                if day > self.last:
                    break
                self.patrol(cell, day, core)
                day += dt.timedelta(days=self.rng.randint(12, 26))
            for _ in range(self.rng.randint(10, 20)):
                day = self.first + dt.timedelta(days=self.rng.randint(0, 364))
                reported = _at(day, self.rng.uniform(8, 20))
                self.issue(cell, None, reported, cell.member, [cell.community_unit])

    def patrol(self, cell: GridCell, day: dt.date, core: list[int]) -> None:
        rng, plan = self.rng, self.plan
        started = _at(day, rng.uniform(8.75, 10.5))
        ended = started + dt.timedelta(minutes=rng.randint(60, 150))
        units = rng.sample(core, rng.randint(2, 3)) + [u for u in (cell.unit,) if u >= 0]
        units = list(dict.fromkeys(units + [cell.community_unit]))
        members = [cell.member]
        for unit in units:
            members += rng.sample(self.people_of(unit), min(2, len(self.people_of(unit))))
        leader = self.leader_of[cell.community] if rng.random() < 0.3 else self.people_of(units[0])[0]
        members = list(dict.fromkeys([leader] + members))
        track = self.track(cell) if rng.random() < 0.6 else None
        plan.patrols.append((cell.area, f"{plan.areas[cell.area][1]}联合步巡", started, ended,
                             track, leader))
        patrol = len(plan.patrols) - 1
        plan.patrol_units.extend((patrol, u) for u in units)
        plan.patrol_members.extend((patrol, p) for p in members)
        found = rng.choices((0, 1, 2, 3, 4), (20, 30, 25, 15, 10))[0]
        for _ in range(found):
            reported = started + dt.timedelta(minutes=rng.randint(5, (ended - started).seconds // 60))
            self.issue(cell, patrol, reported, rng.choice(members), units, leader=leader,
                       attendees=members, patrol_end=ended)

    def track(self, cell: GridCell) -> str:
        """A walk along the grid's streets, with a little GPS scatter (never enough to
        leave the grid: the outer street runs RING metres in, the edge strays JITTER)."""
        rng = self.rng
        xs, ys = cell.street_lines()
        a, b = rng.randrange(len(xs)), rng.randrange(len(ys))
        nodes, previous = [(a, b)], None
        for _ in range(rng.randint(4, 9)):
            moves = [(a + da, b + db) for da, db in ((1, 0), (-1, 0), (0, 1), (0, -1))
                     if 0 <= a + da < len(xs) and 0 <= b + db < len(ys) and (a + da, b + db) != previous]
            previous = (a, b)
            a, b = rng.choice(moves)
            nodes.append((a, b))
        points = []
        for (a0, b0), (a1, b1) in itertools.pairwise(nodes):
            (x0, y0), (x1, y1) = (xs[a0], ys[b0]), (xs[a1], ys[b1])
            steps = max(1, int(math.hypot(x1 - x0, y1 - y0) // 25))
            for s in range(steps):
                t = s / steps
                points.append((x0 + (x1 - x0) * t + rng.uniform(-2, 2),
                               y0 + (y1 - y0) * t + rng.uniform(-2, 2)))
        points.append((xs[nodes[-1][0]], ys[nodes[-1][1]]))
        return to_hex_ewkb([LineString(cell.lattice.to_lonlat(np.array(points)))])[0]

    def place(self, cell: GridCell) -> tuple[Point, int | None, int, int]:
        """Where an issue is: (point, building, innermost area, responsible unit). The unit
        is the one answering for the innermost place: the building, its compound, the grid."""
        rng, layout = self.rng, self.layout
        roll = rng.random()
        grid_unit = self.units_at["area"][cell.area]
        if roll < 0.35 and cell.buildings:
            b = rng.choice(cell.buildings)
            spec = layout.building_specs[b]
            x0, y0, x1, y1 = spec.rect
            xy = ((x0 + x1) / 2, (y0 + y1) / 2)
            unit = self.units_at["building"].get(b, self.units_at["area"].get(spec.area, grid_unit))
            return self.point(cell, xy), b, spec.area, unit
        if roll < 0.55 and cell.compounds:
            # In the compound's yard, between its wall and its buildings.
            compound, (x0, y0, x1, y1) = rng.choice(cell.compounds)
            inset, t = COMPOUND_WALL + COMPOUND_YARD / 2, rng.uniform(0.2, 0.8)
            xy = rng.choice(((x0 + (x1 - x0) * t, y0 + inset), (x0 + (x1 - x0) * t, y1 - inset),
                             (x0 + inset, y0 + (y1 - y0) * t), (x1 - inset, y0 + (y1 - y0) * t)))
            return self.point(cell, xy), None, compound, self.units_at["area"][compound]
        # On a street of the grid, off any block.
        xs, ys = cell.street_lines()
        if rng.random() < 0.5:
            xy = (rng.choice(xs) + rng.uniform(-3, 3), rng.uniform(ys[0], ys[-1]))
        else:
            xy = (rng.uniform(xs[0], xs[-1]), rng.choice(ys) + rng.uniform(-3, 3))
        return self.point(cell, xy), None, cell.area, grid_unit

    def point(self, cell: GridCell, xy: tuple[float, float]) -> Point:
        lon, lat = cell.lattice.to_lonlat(np.array([xy]))[0]
        return Point(float(lon), float(lat))

    def issue(self, cell: GridCell, patrol: int | None, reported: dt.datetime, reporter: int,
              units: list[int], *, leader: int | None = None, attendees: list[int] | None = None,
              patrol_end: dt.datetime | None = None) -> None:
        """One issue and its workflow: reported → meeting (on the spot when a patrol found
        it) → resolved → verified, sometimes referred upwards, stalled past its deadline,
        or reopened; cut off at `today`, so young issues are still open."""
        rng, plan = self.rng, self.plan
        category = rng.choice(ISSUE_CATEGORIES)
        point, building, area, unit = self.place(cell)
        geom = to_hex_ewkb([point])[0]
        unit_name = plan.units[unit][0]
        events: list[tuple[str, dt.datetime, int | None, int | None, str, str | None, str]] = []
        events.append(("reported", reported, reporter, None, "", geom, "{}"))
        meeting = (reported + dt.timedelta(minutes=rng.randint(10, 40)) if patrol is not None
                   else _at(reported.date() + dt.timedelta(days=rng.randint(1, 4)), rng.uniform(9, 17)))
        chair = leader if leader is not None else cell.member
        present = attendees or [cell.member] + self.people_of(unit)[:1]
        deadline = meeting.date() + dt.timedelta(days=rng.randint(3, 15))

        def hold_meeting(at: dt.datetime, until: dt.date) -> None:
            decision = rng.choice(MEETING_DECISIONS).format(unit=unit_name, days=(until - at.date()).days)
            # Named rather than by id (ids are only known once loaded), in the shape the
            # timeline shows: attending_units [{id, name}].
            data = {"attending_units": [{"id": None, "name": plan.units[u][0]}
                                        for u in dict.fromkeys(units + [unit])],
                    "attendees": [plan.people[p][0] for p in present],
                    "decision": decision, "deadline": until.isoformat()}
            events.append(("meeting", at, chair, unit, "", geom, _json(data)))

        # Most issues are settled; some go up to a department, stall past their deadline,
        # wait for the check, or (reported by residents) still wait for anyone to come.
        fate = rng.choices(("settled", "referred", "stalled", "unchecked", "unheard"),
                           (84, 6, 6, 2, 4 if patrol is None else 0))[0]
        if fate != "unheard":
            hold_meeting(meeting, deadline)
        if fate == "referred":
            department = self.unit_by_name[CATEGORY_DEPARTMENTS[category]]
            at = meeting + dt.timedelta(days=rng.randint(0, 3), hours=rng.randint(1, 5))
            name = plan.units[department][0]
            events.append(("refer", at, cell.member, department, f"超出社区处置能力，转{name}办理",
                           None, "{}"))
        elif fate in ("settled", "unchecked"):
            fixer = self.people_of(unit)[-1]
            if patrol_end is not None and rng.random() < 0.45:
                # Solved on the spot (现场解决): fixed while the patrol was still there.
                resolved = min(meeting + dt.timedelta(minutes=rng.randint(5, 25)), patrol_end)
                events.append(("resolve", resolved, fixer, unit, "现场整改完毕", None, "{}"))
            else:
                late = rng.uniform(0.3, 1.3)
                resolved = meeting + dt.timedelta(days=max(0.2, (deadline - meeting.date()).days * late))
                events.append(("resolve", resolved, fixer, unit, "已整改完毕，附整改后照片", None, "{}"))
            checked = resolved + dt.timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 3))
            if fate == "settled" and rng.random() < 0.08:
                events.append(("reopen", checked, cell.member, None, "复核未通过，重新交办", None, "{}"))
                again = checked + dt.timedelta(days=1)
                deadline = again.date() + dt.timedelta(days=rng.randint(3, 7))
                hold_meeting(again, deadline)
                resolved = again + dt.timedelta(days=rng.randint(2, 6))
                events.append(("resolve", resolved, fixer, unit, "二次整改完毕", None, "{}"))
                checked = resolved + dt.timedelta(days=rng.randint(1, 3))
            if fate == "settled":
                events.append(("verify", checked, cell.member, None, "现场复核，整改到位", None, "{}"))

        events = [e for e in events if e[1] < self.cutoff]
        status = {"reported": "reported", "meeting": "meeting", "resolve": "resolved",
                  "verify": "closed", "refer": "referred", "reopen": "reported"}[events[-1][0]]
        meetings = [e for e in events if e[0] == "meeting"]
        due = dt.date.fromisoformat(json.loads(meetings[-1][6])["deadline"]) if meetings else None
        closed_at = events[-1][1] if status == "closed" else None
        reporter_user = self.grid_user if patrol is None and cell.area == self.grid_user_area else None
        plan.issues.append((patrol, category, rng.choice(ISSUE_DESCRIPTIONS[category]), status, geom,
                            building, area, unit, reporter_user, reported, due, closed_at))
        issue = len(plan.issues) - 1
        plan.issue_events.extend((issue, *event) for event in events)

    def wishes(self) -> None:
        """微心愿 raised by households a party member holds, claimed by that member."""
        rng, plan = _stream("wishes", self.plan.scale), self.plan
        for member, held in plan.visit_rounds:
            for _ in range(rng.choices((0, 1, 2), (45, 40, 15))[0]):
                household = rng.choice(held)
                raised = self.first + dt.timedelta(days=rng.randint(0, 364))
                title = rng.choice(WISH_TITLES)
                description = f"走访时由{plan.households[household][5]}提出"
                row: list[Any] = [household, title, description, "open", raised,
                                  None, None, None, None, None, "", None]
                if rng.random() < 0.06:
                    row[3], row[10] = "withdrawn", "住户已自行解决"
                elif rng.random() < 0.8:
                    claimed = raised + dt.timedelta(days=rng.randint(1, 10))
                    fulfilled = claimed + dt.timedelta(days=rng.randint(3, 40))
                    if claimed <= self.last:
                        row[3:10] = ["claimed", raised, member, self.staff.unit_of[member], claimed,
                                     claimed + dt.timedelta(days=rng.randint(7, 30)), None]
                        if fulfilled <= self.last and rng.random() < 0.9:
                            row[3], row[9] = "fulfilled", fulfilled
                            row[10] = rng.choice(WISH_NOTES)
                            row[11] = rng.choices((5, 4, 3), (70, 25, 5))[0]
                plan.wishes.append(tuple(row))

    def service(self) -> None:
        """Volunteer hours: most members give the yearly minimum or a little more, some are
        keen, and a few veterans have years of history (enough for every star)."""
        rng, plan = _stream("service", self.plan.scale), self.plan
        veterans = iter((120, 350, 680, 1150, 1620))
        for member, _ in plan.visit_rounds:
            verifier = self.staff.secretaries[self.staff.member_community[member]]
            target = next(veterans, None)
            if target is None and rng.random() < 0.02:
                target = rng.randint(100, 1600)
            if target is not None:
                sessions = math.ceil(target / 4)
                span = max(365, round(target / 220 * 365))
            elif _slack(plan, member):
                sessions, span = rng.randint(0, 4), 365
            else:
                sessions = rng.randint(30, 60) if rng.random() < 0.12 else rng.randint(6, 20)
                span = 365
            for k in range(sessions):
                day = self.last - dt.timedelta(days=int(span * (k + rng.random()) / sessions))
                hours = Decimal(rng.choice(("2", "2.5", "3", "3.5", "4", "4.5", "5", "6")))
                plan.service_records.append((member, day, rng.choice(SERVICE_ACTIVITIES), hours,
                                             verifier))


def _slack(plan: Plan, person: int) -> bool:
    """About one member in ten seldom turns up: the accountability table's "behind"."""
    return _stream("slack", plan.scale, person).random() < 0.1


def _visits_of(plan: Plan, person: int, households: tuple[int, ...]) -> Iterator[Row]:
    """A member's weekly round: most weeks, one to three of their households in turn,
    more often at weekends; now and then a neighbour they do not hold (by_assignee false)."""
    rng = _stream("visits", plan.scale, person)
    diligence = rng.uniform(0.7, 0.95)
    if _slack(plan, person):
        diligence = rng.uniform(0.02, 0.1)
    first = plan.today - dt.timedelta(days=364)
    turn = rng.randrange(len(households))
    neighbour = households[0] - 1
    for week in range(52):
        if rng.random() > diligence:
            continue
        day = first + dt.timedelta(days=7 * week + rng.choices(range(7), (1, 1, 1, 1, 1, 2, 2))[0])
        if day >= plan.today:
            continue
        for _ in range(rng.choices((1, 2, 3), (35, 45, 20))[0]):
            household, by_assignee = households[turn % len(households)], True
            turn += 1
            if rng.random() < 0.03 and neighbour >= 0 and plan.households[neighbour][7]:
                household, by_assignee = neighbour, False
            needs = rng.choice(VISIT_NEEDS) if rng.random() < 0.08 else ""
            hours = Decimal(rng.choice(("0.5", "1", "1", "1.5")))
            yield (household, person, day, hours, rng.choice(VISIT_NOTES), needs, by_assignee)


def plan(scale: int = 1, today: dt.date | None = None) -> Plan:
    """The demo county at `scale` as of `today` (default: the county's today), without a
    database. Pure: the same arguments give equal plans."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    result = Plan(scale, today or dt.datetime.now(ZoneInfo(TIMEZONE)).date())
    rng = _stream("units")
    result.units = [(name, kind, _unit_phone(rng)) for name, kind in COUNTY_UNITS]
    layout = Layout(result)
    layout.build()
    layout.finish()
    community_households = _households(result, layout)
    staff = _people(result, layout)
    units_at = _responsibility(result, layout, staff, community_households)
    _users(result, layout, staff)
    activity = Activity(result, layout, staff, units_at)
    activity.run()
    activity.wishes()
    activity.service()
    return result


# --- writing -----------------------------------------------------------------------------


def is_loaded(session: Session) -> bool:
    return session.scalar(select(Area.id).where(Area.code == COUNTY_CODE)) is not None


def load(session: Session, scale: int = 1, *, password: str,
         progress: Callable[[float], None] | None = None) -> dict[str, int]:
    """Write the demo county at `scale` into the session's transaction (flushed, not
    committed) and return how many rows of each kind it holds."""
    if is_loaded(session):
        raise Conflict(N_("the demo county is already loaded"))
    report = progress or (lambda done: None)
    report(0.0)
    the_plan = plan(scale)
    report(0.2)
    session.flush()
    writer = _Writer(session)
    ids: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    # Visits are drawn while written; their share of the work is estimated from the rounds.
    expected = {t.name: len(getattr(the_plan, t.name)) for t in TABLES if t.name != "visits"}
    expected["visits"] = 80 * len(the_plan.visit_rounds)
    total, done = sum(expected.values()), 0
    for table in TABLES:
        if table.name == "users":
            ids["users"] = _create_users(session, the_plan, ids, password)
            count = len(ids["users"])
        else:
            rows: Iterable[Row] = the_plan.visits() if table.name == "visits" else getattr(the_plan, table.name)
            count = writer.copy(table, rows, ids,
                                lambda n, before=done: report(0.2 + 0.8 * min(1.0, (before + n) / total)))
        done += expected[table.name]
        report(0.2 + 0.8 * min(1.0, done / total))
        if table.name not in ("patrol_units", "patrol_members"):
            counts[table.name] = count
    report(1.0)
    return counts


def _create_users(session: Session, the_plan: Plan, ids: dict[str, list[int]], password: str) -> list[int]:
    """The demo logins, through geo.accounts so passwords are hashed as for any user. A
    login that already exists is kept as it is."""
    user_ids = []
    for username, role, area, person in the_plan.users:
        user = session.scalar(select(User).where(func.lower(User.username) == username))
        if user is None:
            code = the_plan.areas[area][0] if area is not None else None
            user = accounts.create_user(session, username, password, role, code)
            if person is not None:
                user.person_id = ids["people"][person]
        user_ids.append(user.id)
    session.flush()
    return user_ids


class _Writer:
    """COPY into the session's connection: plan positions become ids, reserved from each
    table's own sequence so rows added later by the app keep counting from there."""

    CHUNK = 20000

    def __init__(self, session: Session) -> None:
        self.session = session
        driver = session.connection().connection.driver_connection
        if not isinstance(driver, psycopg2.extensions.connection):
            raise TypeError("the demo loader needs the psycopg2 driver (postgresql+psycopg2://)")
        self.driver = driver

    def reserve(self, table: str, n: int) -> list[int]:
        sequence = self.session.scalar(select(func.pg_get_serial_sequence(table, "id")))
        numbers = select(func.nextval(sequence)).select_from(func.generate_series(1, n))
        return sorted(self.session.scalars(numbers))

    def copy(self, table: TableSpec, rows: Iterable[Row], ids: dict[str, list[int]],
             progress: Callable[[int], None]) -> int:
        columns = table.columns
        own: list[int] | None = None
        if table.reserve_ids:
            rows = list(rows)
            own = self.reserve(table.name, len(rows)) if rows else []
            ids[table.name] = own  # before the references: areas refer to areas
        maps = [ids[REFERENCES[c]] if c in REFERENCES else None for c in columns]
        if own is not None:
            columns, maps = ("id", *columns), [None, *maps]
        # CSV reads an unquoted empty field as NULL; these columns hold empty strings.
        model = Base.metadata.tables[table.name]
        texts = [c for c in columns if not model.c[c].nullable and isinstance(model.c[c].type, String)]
        statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv{})").format(
            sql.Identifier(table.name),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", FORCE_NOT_NULL ({})").format(sql.SQL(", ").join(map(sql.Identifier, texts)))
            if texts else sql.SQL(""),
        ).as_string(self.driver)
        count = 0
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        with self.driver.cursor() as cursor:
            for row in rows:
                if own is not None:
                    row = (own[count], *row)
                out.writerow([v if m is None or v is None else m[v] for v, m in zip(row, maps, strict=True)])
                count += 1
                if count % self.CHUNK == 0:
                    self._send(cursor, statement, buffer)
                    buffer = io.StringIO()
                    out = csv.writer(buffer, lineterminator="\n")
                    progress(count)
            self._send(cursor, statement, buffer)
        return count

    @staticmethod
    def _send(cursor: Any, statement: str, buffer: io.StringIO) -> None:
        if buffer.tell():
            buffer.seek(0)
            cursor.copy_expert(statement, buffer)
