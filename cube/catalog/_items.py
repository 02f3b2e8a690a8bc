"""One STAC item per burst ID and date, with the sar, sat and proj extensions."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pystac
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.sar import FrequencyBand, Polarization, SarExtension
from pystac.extensions.sat import OrbitState, SatExtension

from cube import __version__
from cube.format import SLC_STORE, BurstMetadata, burst_group_path, catalog_item_path
from cube.storage import CubeStore

SLC_COLLECTION = "sentinel-1-slc-bursts"


def _footprint(burst: BurstMetadata) -> list[list[float]]:
    """Outline (lon, lat) of the burst from the ESA geolocation grid rows at its first and last line."""
    grid = burst.geolocation_grid
    if not grid:
        raise ValueError(f"{burst.burst_id}: no geolocation grid points in this burst")
    lines = sorted({p.line for p in grid})
    first = sorted((p for p in grid if p.line == lines[0]), key=lambda p: p.pixel)
    last = sorted((p for p in grid if p.line == lines[-1]), key=lambda p: -p.pixel)
    ring = [[p.longitude, p.latitude] for p in [*first, *last]]
    return [*ring, ring[0]]


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
