"""Seeded weather-sensor logs: CSV lines ``datetime,lat,lon,temperature,pressure,rainfall``.

Points are spread over Europe; a share of them lie near Lisbon, inside the box that the design's
example one-liner selects (``sed -n '/38.7[2-4]....,-9.1[3-5]..../p'``: latitude 38.72–38.749999 N,
longitude -9.13 to -9.159999), and some lie just outside it (near misses), so a filter that is off
by a digit shows. Coordinates have six decimals, which is what the one-liner's four dots expect.

::

    files = write_sensor_logs(tmp_path / "logs", files=6, lines=200, seed=7)
    expected = lisbon_lines(tmp_path / "logs")     # {relative path: the Lisbon lines, as bytes}
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

#: The design's example, verbatim.
SED_LISBON = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"
COLUMNS = ("datetime", "lat", "lon", "temperature", "pressure", "rainfall")
LAT_BOX = (Decimal("38.72"), Decimal("38.75"))  # [low, high)
LON_BOX = (Decimal("-9.16"), Decimal("-9.13"))  # (low, high]
EUROPE_LAT = (36.0, 60.0)
EUROPE_LON = (-10.0, 30.0)
START = datetime(2024, 6, 1)
#: Names that break naive shell loops: spaces, a quote, a subdirectory.
AWKWARD_NAMES = ("station logs/sensor one.csv", "station logs/o'brien street.csv")


def in_lisbon_box(lat: str, lon: str) -> bool:
    """Whether the textual coordinates fall in the one-liner's box (decimal, no float edges)."""
    la, lo = Decimal(lat), Decimal(lon)
    return LAT_BOX[0] <= la < LAT_BOX[1] and LON_BOX[0] < lo <= LON_BOX[1]


def _point(rng: random.Random, lisbon_share: float) -> tuple[float, float]:
    roll = rng.random()
    if roll < lisbon_share:  # inside the box
        return rng.uniform(38.720001, 38.749998), rng.uniform(-9.159998, -9.130001)
    if roll < lisbon_share * 1.5:  # a near miss: one coordinate just outside
        if rng.random() < 0.5:
            lat = rng.choice([rng.uniform(38.70, 38.7199), rng.uniform(38.7501, 38.77)])
            return lat, rng.uniform(-9.159998, -9.130001)
        lon = rng.choice([rng.uniform(-9.18, -9.1601), rng.uniform(-9.1299, -9.11)])
        return rng.uniform(38.720001, 38.749998), lon
    while True:
        lat, lon = rng.uniform(*EUROPE_LAT), rng.uniform(*EUROPE_LON)
        if not in_lisbon_box(f"{lat:.6f}", f"{lon:.6f}"):
            return lat, lon


def sensor_lines(rng: random.Random, count: int, *, lisbon_share: float = 0.1) -> list[str]:
    """``count`` readings, one CSV line each (with its newline), at 10-minute steps."""
    out = []
    for i in range(count):
        lat, lon = _point(rng, lisbon_share)
        when = (START + timedelta(minutes=10 * i)).isoformat()
        temp, pressure = rng.uniform(0, 35), rng.uniform(980, 1040)
        rain = max(0.0, rng.gauss(0.2, 1.0))
        out.append(f"{when},{lat:.6f},{lon:.6f},{temp:.1f},{pressure:.1f},{rain:.1f}\n")
    return out


def write_sensor_logs(
    root: Path,
    *,
    files: int = 8,
    lines: int = 200,
    seed: int = 0,
    lisbon_share: float = 0.1,
    awkward_names: bool = False,
) -> list[Path]:
    """Write ``files`` logs of ``lines`` readings under ``root``; return their paths, in order.

    Files are ``sensor-000.csv`` …; with ``awkward_names`` the first ones take the names in
    :data:`AWKWARD_NAMES` (spaces, a quote, a subdirectory). The same seed gives the same bytes.
    One file in four has no Lisbon reading at all.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        name = AWKWARD_NAMES[i] if awkward_names and i < len(AWKWARD_NAMES) else None
        path = root / (name or f"sensor-{i:03d}.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        share = 0.0 if i % 4 == 3 else lisbon_share
        path.write_text("".join(sensor_lines(rng, lines, lisbon_share=share)))
        paths.append(path)
    return paths


def lisbon_lines_of(text: str) -> str:
    """The lines of one log whose coordinates are in the Lisbon box, newlines kept."""
    keep = []
    for line in text.splitlines(keepends=True):
        fields = line.split(",")
        if len(fields) >= 3 and in_lisbon_box(fields[1], fields[2]):
            keep.append(line)
    return "".join(keep)


def lisbon_lines(root: Path) -> dict[str, bytes]:
    """``{path relative to root: its Lisbon lines}`` for every file under ``root`` (files with
    none map to ``b""``): what the one-liner over the dataset must give, file by file."""
    return {
        str(p.relative_to(root)): lisbon_lines_of(p.read_text()).encode()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
