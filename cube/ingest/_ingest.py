"""``sarcube ingest``: products → SLC cube, burst by burst, each date committed atomically."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from cube.catalog import update_index, write_slc_item
from cube.format import CUBE_DOC, BurstMetadata, catalog_item_path
from cube.ingest._safe import SafeProduct, open_safe
from cube.ingest._writer import append_date, ensure_cube, iter_new
from cube.products import ensure_burst_grid
from cube.storage import CubeStore


@dataclass(frozen=True)
class BurstDate:
    """One date of one burst ID and polarization in the cube."""

    burst_id: str
    polarization: str
    date_key: str

    @classmethod
    def of(cls, burst: BurstMetadata) -> BurstDate:
        """The burst date of a burst's metadata."""
        return cls(burst.burst_id, burst.polarization, burst.date_key)

    def __str__(self) -> str:
        return f"{self.burst_id} {self.polarization} {self.date_key}"


@dataclass
class IngestReport:
    """What an ingest did: burst dates added and burst dates already present."""

    added: list[BurstDate] = field(default_factory=list)
    skipped: list[BurstDate] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the console."""
        return f"{len(self.added)} burst date(s) added, {len(self.skipped)} already in the cube"


def ingest(
    sources: Sequence[str],
    store: CubeStore,
    swaths: list[str] | None = None,
    polarizations: list[str] | None = None,
    orbit_file: str | None = None,
    progress: bool = True,
    storage_options: dict | None = None,
    lease_ttl_s: float = 60.0,
) -> IngestReport:
    """Ingest products into the cube at ``store``.

    Every source is opened and checked (metadata, measurement headers) before the first
    write, so a bad input leaves the cube unchanged. Dates may come in any order; a date
    already in the cube is skipped (its STAC item is rewritten if missing). Once every date
    is committed, the STAC index (``catalog/index.sqlite``) is updated with them: idempotent,
    so a rerun after an interruption indexes the dates committed before it.

    Many ingests may run at once, into the same burst groups too: each date is appended under
    its group's writer lease (``lease_ttl_s``: how long a killed ingest blocks the next
    writer) with a conditional commit, and the STAC index and items are updated the same way.
    """
    plan: list[tuple[SafeProduct, BurstMetadata]] = []
    for source in sources:
        product = open_safe(source, orbit_file=orbit_file, storage_options=storage_options)
        bursts = product.bursts(swaths, polarizations)
        if not bursts:
            wanted = f"swaths {swaths or 'any'}, polarizations {polarizations or 'any'}"
            raise ValueError(f"{source}: no burst matches {wanted} (has {product.swaths()})")
        plan.extend((product, b) for b in bursts)
    fresh = not store.exists(CUBE_DOC)
    new = [b for _, b in plan] if fresh else iter_new(store, [b for _, b in plan])
    new_keys = {_key(b) for b in new}
    for product, burst in plan:  # pre-flight: every measurement we will read is sound
        if _key(burst) in new_keys:
            product.check_measurement(burst)
    ensure_cube(store)

    report = IngestReport()
    committed: list[BurstMetadata] = []
    with tqdm(total=len(plan), desc="ingest", unit="burst", disable=not progress) as bar:
        for product, burst in plan:
            label = BurstDate.of(burst)
            bar.set_postfix_str(str(label))
            ensure_burst_grid(store, burst)  # the burst ID's fixed grid, defined once
            if _key(burst) in new_keys and append_date(
                store, burst, product.read_burst(burst), lease_ttl_s=lease_ttl_s
            ):
                report.added.append(label)
                write_slc_item(store, burst)
            else:
                report.skipped.append(label)
                if not store.exists(catalog_item_path(burst.burst_id, burst.date_key)):
                    write_slc_item(store, burst)  # a rerun after a kill between commit and item
            committed.append(burst)
            bar.update()
    # after every commit; dates already indexed are left alone
    update_index(store, committed, lease_ttl_s=lease_ttl_s)
    return report


def _key(burst: BurstMetadata) -> tuple[str, str, str]:
    return burst.burst_id, burst.polarization, burst.date_key
