"""``sarcube ingest``: products → SLC cube, burst by burst, each date committed atomically."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from cube.catalog import update_index, write_slc_item
from cube.errors import InputError
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
    burst_index: int = field(default=-1, compare=False)

    @classmethod
    def of(cls, burst: BurstMetadata) -> BurstDate:
        """The burst date of a burst's metadata."""
        return cls(burst.burst_id, burst.polarization, burst.date_key, burst.burst_index)

    def __str__(self) -> str:
        return f"{self.burst_id} {self.polarization} {self.date_key}"


@dataclass
class IngestReport:
    """What an ingest did.

    Burst dates added, already present, and not covered by an explicit measurement window
    (not stored).
    """

    added: list[BurstDate] = field(default_factory=list)
    skipped: list[BurstDate] = field(default_factory=list)
    uncovered: list[BurstDate] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the console."""
        line = f"{len(self.added)} burst date(s) added, {len(self.skipped)} already in the cube"
        if self.uncovered:
            line += (f", {len(self.uncovered)} not covered by the measurement TIFF (not stored: "
                     f"burst index {', '.join(str(b.burst_index) for b in self.uncovered)})")
        return line


def ingest(
    sources: Sequence[str],
    store: CubeStore,
    swaths: list[str] | None = None,
    polarizations: list[str] | None = None,
    orbit_file: str | None = None,
    progress: bool = True,
    storage_options: dict | None = None,
    lease_ttl_s: float = 60.0,
    measurement: str | None = None,
    measurement_offset: tuple[int, int] = (0, 0),
) -> IngestReport:
    """Ingest products into the cube at ``store``.

    A product is annotation + measurement + orbit: a SAFE (folder, zip) holds all three; a
    bare annotation XML (one source) takes its pixels from ``measurement``, a CInt16 TIFF
    whose first pixel is swath (line, sample) ``measurement_offset``, e.g. a crop of the
    swath. A burst the TIFF covers in part is stored whole, 0 (the fill) outside the covered
    window, its valid window narrowed to it; a burst it does not cover is not stored
    (``IngestReport.uncovered``). The burst ID's grid is defined from the annotated burst.

    Every source is opened and checked (metadata, measurement headers) before the first
    write, so a bad input leaves the cube unchanged. Dates may come in any order; a date
    already in the cube is skipped (its STAC item is rewritten if missing). Once every date
    is committed, the STAC index (``catalog/index.sqlite``) is updated with them: idempotent,
    so a rerun after an interruption indexes the dates committed before it.

    Many ingests may run at once, into the same burst groups too: each date is appended under
    its group's writer lease (``lease_ttl_s``: how long a killed ingest blocks the next
    writer) with a conditional commit, and the STAC index and items are updated the same way.
    """
    if measurement is not None and len(sources) != 1:
        raise InputError(
            f"--measurement {measurement}: give exactly one annotation XML with it, "
            f"not {len(sources)} sources"
        )
    report = IngestReport()
    # (product, burst as annotated, burst as stored: valid window narrowed to its pixels)
    plan: list[tuple[SafeProduct, BurstMetadata, BurstMetadata]] = []
    for source in sources:
        product = open_safe(source, orbit_file=orbit_file, storage_options=storage_options,
                            measurement=measurement, measurement_offset=measurement_offset)
        bursts = product.bursts(swaths, polarizations)
        if not bursts:
            wanted = f"swaths {swaths or 'any'}, polarizations {polarizations or 'any'}"
            raise InputError(f"{source}: no burst matches {wanted} (has {product.swaths()})")
        for b in bursts:
            stored = product.covered(b)
            if stored is None:
                report.uncovered.append(BurstDate.of(b))
            else:
                plan.append((product, b, stored))
    fresh = not store.exists(CUBE_DOC)
    new = [s for *_, s in plan] if fresh else iter_new(store, [s for *_, s in plan])
    new_keys = {_key(b) for b in new}
    for product, burst, _ in plan:  # pre-flight: every measurement we will read is sound
        if _key(burst) in new_keys:
            product.check_measurement(burst)
    ensure_cube(store)

    committed: list[BurstMetadata] = []
    with tqdm(total=len(plan), desc="ingest", unit="burst", disable=not progress) as bar:
        for product, annotated, burst in plan:
            label = BurstDate.of(burst)
            bar.set_postfix_str(str(label))
            ensure_burst_grid(store, annotated)  # the burst ID's fixed grid, defined once
            if _key(burst) in new_keys and append_date(
                store, burst, product.read_burst(annotated), lease_ttl_s=lease_ttl_s
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
