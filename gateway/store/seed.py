"""Demo business data for the three shipped agent profiles, written on first start."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from . import schema

CUSTOMERS = [
    {"phone": "09000000000", "name": "山田 太郎", "plan": "プレミアムプラン", "since": dt.date(2019, 4, 1), "note": "請求書は郵送希望"},
    {"phone": "09012345678", "name": "佐藤 花子", "plan": "スタンダードプラン", "since": dt.date(2022, 10, 15), "note": ""},
    {"phone": "0312345678", "name": "株式会社サンプル商事", "plan": "法人プラン", "since": dt.date(2018, 1, 10), "note": "担当: 鈴木様"},
]

LOCATIONS = [
    {"id": "tokyo-station", "name": "東京駅八重洲口店", "address": "東京都中央区八重洲1-1-1", "hours": "08:00-20:00"},
    {"id": "shinjuku", "name": "新宿西口店", "address": "東京都新宿区西新宿1-2-3", "hours": "08:00-22:00"},
    {"id": "haneda", "name": "羽田空港店", "address": "東京都大田区羽田空港3-3-2", "hours": "07:00-23:00"},
    {"id": "osaka-umeda", "name": "大阪梅田店", "address": "大阪府大阪市北区梅田3-1-1", "hours": "08:00-20:00"},
]

_FLEET = {"compact": ("トヨタ ヤリス", 6600), "sedan": ("トヨタ カローラ", 8800), "minivan": ("トヨタ ノア", 13200), "suv": ("トヨタ RAV4", 14300)}
_COUNTS = {
    "tokyo-station": {"compact": 2, "sedan": 2, "minivan": 1, "suv": 1},
    "shinjuku": {"compact": 2, "sedan": 1, "minivan": 1},
    "haneda": {"compact": 3, "sedan": 2, "minivan": 2, "suv": 2},
    "osaka-umeda": {"compact": 2, "sedan": 1, "suv": 1},
}
VEHICLES = [
    {"id": f"{loc}-{kind}-{i + 1}", "location_id": loc, "vehicle_type": kind, "model": _FLEET[kind][0], "daily_rate": _FLEET[kind][1]}
    for loc, counts in _COUNTS.items()
    for kind, n in counts.items()
    for i in range(n)
]

DRIVERS = [
    {"vehicle_number": "1234", "name": "田中 一郎", "name_kana": "たなか いちろう"},
    {"vehicle_number": "5678", "name": "高橋 次郎", "name_kana": "たかはし じろう"},
]

STOPS = [
    ("1234", 0, 1, "14:30", "横浜ベイ倉庫", "神奈川県横浜市中区新港2-5-1", "冷凍食品 12パレット"),
    ("1234", 0, 2, "17:00", "川崎市場センター", "神奈川県川崎市川崎区東扇島7-1", "青果 8ケース"),
    ("1234", 1, 1, "06:30", "厚木物流センター", "神奈川県厚木市上依知3001", "日用品 20パレット"),
    ("1234", 1, 2, "10:00", "八王子配送センター", "東京都八王子市石川町2970", "家電 6パレット"),
    ("5678", 0, 1, "15:00", "千葉港倉庫", "千葉県千葉市中央区中央港1-10", "飲料 18パレット"),
    ("5678", 1, 1, "07:00", "成田空港貨物地区", "千葉県成田市古込字古込1-1", "精密機器 4パレット"),
]


async def seed_demo_data(conn: AsyncConnection) -> None:
    await conn.execute(insert(schema.customers), CUSTOMERS)
    await conn.execute(insert(schema.locations), LOCATIONS)
    await conn.execute(insert(schema.vehicles), VEHICLES)
    await conn.execute(insert(schema.drivers), DRIVERS)
    await conn.execute(
        insert(schema.driver_stops),
        [
            {"vehicle_number": v, "day_offset": d, "seq": s, "arrive": a, "destination": dest, "address": addr, "cargo": cargo}
            for v, d, s, a, dest, addr, cargo in STOPS
        ],
    )
