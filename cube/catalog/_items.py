"""One STAC item per burst ID and date, with the sar, sat and proj extensions."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import numpy as np
import pystac
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.sar import FrequencyBand, Polarization, SarExtension
from pystac.extensions.sat import OrbitState, SatExtension

from cube import __version__
from cube.format import SLC_STORE, BurstMetadata, burst_group_path, catalog_item_path
from cube.storage import CubeStore

SLC_COLLECTION = "sentinel-1-slc-bursts"


FOOTPRINT_POINTS = 11
"""Points along each valid line of a footprint (its outline has 2 × this + 1 vertices)."""


def _footprint(burst: BurstMetadata, points: int = FOOTPRINT_POINTS) -> list[list[float]]:
    """Outline (lon, lat) of the burst's valid data, a closed ring of ``2 × points + 1`` vertices.

    Walks the first valid line from the first to the last valid sample, then the last valid
    line back. Each vertex is the ESA geolocation grid interpolated linearly in zero-Doppler
    time (per grid pixel column), then in pixel. By time, not by grid line: the grid row at the
    burst's line ``lines`` carries the next burst's start time, which is not this burst's last
    line (a real burst's last lines overlap the next burst; a gap may separate simulated ones).
    """
    grid = burst.geolocation_grid
    pixels = sorted({p.pixel for p in grid})
    if len({p.azimuth_time for p in grid}) < 2 or len(pixels) < 2:
        raise ValueError(f"{burst.burst_id} {burst.date_key}: the geolocation grid has fewer than "
                         "2 rows or columns in this burst, too few to outline it; check the annotation")
    t_valid = np.array([burst.first_valid_line, burst.last_valid_line]) * burst.azimuth_time_interval
    samples = np.linspace(burst.first_valid_sample, burst.last_valid_sample, points)
    lon0 = grid[0].longitude
    first, last = [], []  # per grid pixel column: (lon, lat) at the first / last valid line
    for pixel in pixels:
        column = sorted(((p.azimuth_time - burst.sensing_start).total_seconds(), p.latitude,
                         (p.longitude - lon0 + 180.0) % 360.0 - 180.0)  # continuous across ±180°
                        for p in grid if p.pixel == pixel)
        t, lat, lon = (np.array(v) for v in zip(*column, strict=True))
        (lon_a, lon_b), (lat_a, lat_b) = _linear(t, lon, t_valid), _linear(t, lat, t_valid)
        first.append((lon_a, lat_a))
        last.append((lon_b, lat_b))
    ring = []
    for edge, order in ((np.array(first), samples), (np.array(last), samples[::-1])):
        lons, lats = np.interp(order, pixels, edge[:, 0]), np.interp(order, pixels, edge[:, 1])
        ring += [[float((x + lon0 + 180.0) % 360.0 - 180.0), float(y)]
                 for x, y in zip(lons, lats, strict=True)]
    return [*ring, ring[0]]


def _linear(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Piecewise-linear y(x) at ``at``, extended linearly beyond the ends (≥ 2 distinct x)."""
    x, first = np.unique(x, return_index=True)
    y = y[first]
    i = np.clip(np.searchsorted(x, at), 1, len(x) - 1)
    return y[i - 1] + (at - x[i - 1]) * (y[i] - y[i - 1]) / (x[i] - x[i - 1])


def make_slc_item(burst: BurstMetadata, cube_url: str) -> pystac.Item:
    """The STAC item of one burst date with one asset per polarization."""
    ring = _footprint(burst)
    lons, lats = [c[0] for c in ring], [c[1] for c in ring]
    start = burst.sensing_start.replace(tzinfo=UTC)
    end = start + timedelta(seconds=burst.azimuth_time_interval * (burst.lines - 1))
    item = pystac.Item(
        id=f"{burst.burst_id}_{burst.date_key}",
        geometry={"type": "Polygon", "coordinates": [ring]},
        bbox=[min(lons), min(lats), max(lons), max(lats)],
        datetime=start,
        start_datetime=start,
        end_datetime=end,
        collection=SLC_COLLECTION,
        properties={
            "platform": f"sentinel-{burst.mission[-2:].lower()}",
            "constellation": "sentinel-1",
            "instruments": ["c-sar"],
            "sarcube:burst_id": burst.burst_id,
            "sarcube:esa_burst_number": burst.esa_burst_number,
            "sarcube:swath": burst.swath,
            "sarcube:burst_index": burst.burst_index,
            "sarcube:product_id": burst.product_id,
            "sarcube:date_key": burst.date_key,
            "processing:software": {"sarcube": __version__},
        },
    )
    SarExtension.ext(item, add_if_missing=True).apply(
        instrument_mode="IW",
        frequency_band=FrequencyBand.C,
        polarizations=[Polarization(burst.polarization)],
        product_type="SLC",
        center_frequency=burst.radar_frequency / 1e9,
        pixel_spacing_range=burst.range_pixel_spacing_m,
        pixel_spacing_azimuth=burst.azimuth_pixel_spacing_m,
        looks_range=1,
        looks_azimuth=1,
    )
    SatExtension.ext(item, add_if_missing=True).apply(
        orbit_state=OrbitState(burst.orbit_direction),
        relative_orbit=burst.relative_orbit,
        absolute_orbit=burst.absolute_orbit,
        anx_datetime=burst.ascending_node_time.replace(tzinfo=UTC),
    )
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        code=None, shape=[burst.lines, burst.samples]
    )
    item.add_asset(
        burst.polarization.lower(),
        pystac.Asset(
            href=f"{cube_url}/{SLC_STORE}/{burst_group_path(burst.burst_id, burst.polarization)}",
            media_type="application/vnd+zarr",
            roles=["data"],
            title=f"{burst.polarization} SLC burst group (zarr v3, all dates)",
            extra_fields={"sarcube:date_key": burst.date_key},
        ),
    )
    return item


def merge_items(old: pystac.Item, new: pystac.Item) -> pystac.Item:
    """``old`` with the polarizations and assets of ``new`` added."""
    sar_old, sar_new = SarExtension.ext(old), SarExtension.ext(new)
    pols = {p.value for p in sar_old.polarizations} | {p.value for p in sar_new.polarizations}
    sar_old.polarizations = [Polarization(p) for p in sorted(pols)]
    for key, asset in new.assets.items():
        old.add_asset(key, asset)
    return old


def write_slc_item(store: CubeStore, burst: BurstMetadata) -> pystac.Item:
    """Write (or extend with this polarization) the item of ``burst``'s date, atomically."""
    path = catalog_item_path(burst.burst_id, burst.date_key)
    new = make_slc_item(burst, store.url)
    while True:  # compare-and-swap: another polarization's writer may extend it at once
        raw, version = store.read_versioned(path)
        item = new if raw is None else merge_items(pystac.Item.from_dict(json.loads(raw)), new)
        body = json.dumps(item.to_dict(include_self_link=False), indent=1, default=str).encode()
        if store.write_if(path, body, version):
            return item
