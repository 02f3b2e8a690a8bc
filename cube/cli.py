"""The ``sarcube`` command line."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cube import __version__
from cube.errors import CubeError, InputError, NotFoundError, StorageUnavailableError

#: Exit codes (``sarcube --help`` lists them; docs/architecture.md too).
EXIT_CODES = {
    0: "success",
    1: "unexpected error (a bug: the traceback is printed; please report it)",
    2: "bad input or cube: one line 'sarcube: error: ...' says what and what to do",
    3: "storage or server unavailable (the object store, file system or API cannot be reached): retry later",
    4: "the job watched by 'sarcube jobs watch' failed (its message says why)",
    130: "interrupted (Ctrl-C); the cube holds only complete dates",
}


def _csv(value: str) -> list[str]:
    return [v.strip().upper() for v in value.split(",") if v.strip()]


def cmd_info(args: argparse.Namespace) -> int:
    """``sarcube info``: one record per burst of a SAFE (metadata only), as text or JSON."""
    from cube.ingest import open_safe

    product = open_safe(args.source, orbit_file=args.orbit)
    records = [b.summary() for b in product.bursts(args.swaths, args.pols)]
    if args.json:
        json.dump(records, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    keys = list(records[0]) if records else []
    for r in records:
        print("  ".join(f"{k}={r[k]}" for k in keys))
    return 0


def _measurement_offset(args: argparse.Namespace) -> tuple[int, int]:
    """(row, col) of ``--measurement-offset`` (default 0, 0); InputError if malformed or alone."""
    if args.measurement_offset is None:
        return 0, 0
    if args.measurement is None:
        raise InputError("--measurement-offset goes with --measurement TIFF")
    try:
        row, col = (int(v) for v in args.measurement_offset.split(","))
    except ValueError:
        raise InputError(f"--measurement-offset {args.measurement_offset!r}: expected ROW,COL, "
                         "the 0-based swath line and sample of the TIFF's first pixel") from None
    return row, col


def cmd_ingest(args: argparse.Namespace) -> int:
    """``sarcube ingest``: ingest SAFE products into an SLC cube; print the report."""
    from cube.ingest import ingest
    from cube.storage import open_store

    offset = _measurement_offset(args)
    store = open_store(args.cube)
    report = ingest(
        args.sources, store, swaths=args.swaths, polarizations=args.pols,
        orbit_file=args.orbit, progress=not args.quiet, lease_ttl_s=args.lease_ttl_s,
        measurement=args.measurement, measurement_offset=offset,
    )
    print(report.summary())
    _dem_hint(store, args.cube)
    return 0


def _dem_hint(store, cube: str) -> None:
    """One line on stderr when the cube has no DEM: every product needs one."""
    from cube.format import CUBE_DOC

    if store.exists(CUBE_DOC) and not store.read_json(CUBE_DOC).get("dem"):
        print(f"next: products need a DEM; record one with `sarcube dem {cube} DEM.tif` (a GeoTIFF/COG "
              f"of heights) or `sarcube dem {cube} cop30`", file=sys.stderr)


def cmd_simulate(args: argparse.Namespace) -> int:
    """``sarcube simulate``: write a simulated stack of SAFE products; print their paths."""
    from cube.simulate import simulate_stack

    stack = simulate_stack(
        args.out_dir, dates=args.dates, bursts=args.bursts, size=args.size, seed=args.seed,
        progress=True, deformation=args.deformation,
    )
    for path in stack.safe_paths:
        print(path)
    print(f"ground truth: {stack.truth_dir}")
    cube = Path(args.out_dir) / "cube"
    print(f"next: sarcube ingest {Path(args.out_dir) / '*.SAFE'} --cube {cube} && sarcube dem {cube} "
          f"{stack.truth_dir / 'dem.tif'}   (the simulator's own DEM, heights above WGS84)", file=sys.stderr)
    return 0


def cmd_geolocate(args: argparse.Namespace) -> int:
    """``sarcube geolocate``: stdin rows of radar coordinates → stdout 'lat lon height'.

    Rows are 'line sample height', or with ``--times`` 'azimuth_time slant_range_time height';
    ``--inverse`` maps 'lat lon height' back.
    """
    import numpy as np

    from cube.geometry import geolocate
    from cube.ingest import open_safe

    product = open_safe(args.source, orbit_file=args.orbit)
    bursts = product.bursts([args.swath], [args.pol])
    if not bursts:
        held = sorted({f"{b.swath} {b.polarization}" for b in product.bursts()})
        raise NotFoundError(f"{args.source}: no {args.swath} {args.pol} bursts; it has "
                            f"{', '.join(held) or 'none'} (--swath, --pol)")
    rows = [line.split() for line in sys.stdin if line.strip() and not line.startswith("#")]
    bad = [i + 1 for i, r in enumerate(rows) if len(r) != 3]
    if bad:
        raise InputError(f"stdin line {bad[0]}: expected 3 columns, got {len(rows[bad[0] - 1])}")
    points: list[tuple[str, float, float]] | np.ndarray
    if args.times and not args.inverse:
        points = [(r[0], float(r[1]), float(r[2])) for r in rows]
    else:
        try:
            points = np.array(rows, dtype=np.float64).reshape(-1, 3)
        except ValueError as exc:
            raise InputError(f"stdin: {exc}: expected numbers") from exc
    out = geolocate(bursts, points, mode="times" if args.times else "lines", inverse=args.inverse,
                    bistatic=args.bistatic)
    if not args.inverse:
        cols = [out["latitude"], out["longitude"], out["height"]]
        for lat, lon, h in zip(*cols, strict=True):
            print(f"{lat:.9f} {lon:.9f} {h:.4f}")
    elif args.times:
        for t, tau in zip(out["azimuth_time"], out["slant_range_time"], strict=True):
            print(f"{np.datetime_as_string(t, unit='us')} {tau:.12e}")
    else:
        for line, sample in zip(out["line"], out["sample"], strict=True):
            print(f"{line:.4f} {sample:.4f}")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """``sarcube baseline``: Bpar/Bperp (m, ISCE2 convention) of a burst common to two SAFEs, as JSON."""
    from cube.geometry import compute_baseline, select_common_burst
    from cube.ingest import open_safe

    which = int(args.burst) if args.burst.lstrip("-").isdigit() else args.burst
    if which not in ("first", "last") and not isinstance(which, int):
        raise InputError(f"--burst must be first, last or a burst index, not {args.burst!r}")
    ref = open_safe(args.reference).bursts([args.swath], [args.pol])
    sec = open_safe(args.secondary).bursts([args.swath], [args.pol])
    result = compute_baseline(*select_common_burst(ref, sec, which))
    print(json.dumps({"bpar_m": result["bpar_m"], "bperp_m": result["bperp_m"]}))
    return 0


def cmd_dem(args: argparse.Namespace) -> int:
    """``sarcube dem``: record the DEM a cube is geocoded with and report its vertical datum."""
    from cube.format import CUBE_DOC
    from cube.geometry import (
        COP30_DATUM,
        COP30_PUBLIC_OPTIONS,
        COP30_PUBLIC_URL,
        DATUM_CRS,
        check_vertical_datum,
        dem_info,
        find_geoid_file,
        load_geoid,
    )
    from cube.products import set_cube_dem
    from cube.storage import open_store

    store = open_store(args.cube)
    if not store.exists(CUBE_DOC):
        raise NotFoundError(f"{args.cube}: not a sarcube cube (no cube.json); ingest into it first")
    if args.dem.lower() == "cop30":
        url = args.cop30_url or COP30_PUBLIC_URL
        if url == COP30_PUBLIC_URL and not args.endpoint_url:
            options = COP30_PUBLIC_OPTIONS
        else:
            options = {"anon": True} if args.anonymous else {}
            if args.endpoint_url:
                options["client_kwargs"] = {"endpoint_url": args.endpoint_url}
        datum = COP30_DATUM if args.vertical_datum == "auto" else args.vertical_datum
        why = "the product definition" if args.vertical_datum == "auto" else "--vertical-datum"
        at = f" at {args.endpoint_url}" if args.endpoint_url else ""
        print(f"Copernicus DEM GLO-30 tiles from {url}{at}: heights above {datum.upper()} ({why})")
        kind, dem_url = "cop30", url
    else:
        options = store.storage_options if "://" in args.dem else {}
        info = dem_info(args.dem, options)
        found = info.vertical_datum
        asked = found if args.vertical_datum == "auto" else args.vertical_datum
        datum = check_vertical_datum(asked, args.dem)
        said = (f"the file says {DATUM_CRS.get(found, found)}" if found
                else "the file names no vertical CRS")
        print(f"{args.dem}: EPSG:{info.crs}, {info.shape[0]} x {info.shape[1]} pixels, bounds "
              f"{tuple(round(v, 6) for v in info.bounds)}; heights above {datum.upper()} ({said}"
              f"{'; --vertical-datum ' + datum if args.vertical_datum != 'auto' else ''})")
        kind, dem_url, options = "file", args.dem, None
    if datum == "ellipsoid":
        print("geoid: none applied (heights are above the WGS84 ellipsoid already)")
    else:
        grid = find_geoid_file(datum)
        if grid is not None:
            print(f"geoid: {datum.upper()} from {grid} (h = H + N)")
        elif datum == "egm2008" and (egm96 := find_geoid_file("egm96")) is not None:
            print(f"geoid: no EGM2008 grid here; EGM96 from {egm96} will stand in (a warning at each "
                  "read, and products name it in their 'geoid' attribute)")
        else:
            load_geoid("egm96")  # raises NotFoundError saying what to install
    set_cube_dem(store, dem_url, datum, kind=kind, storage_options=options)
    print(f"{args.cube}: products will be geocoded with {args.dem}")
    return 0


def cmd_geoid(args: argparse.Namespace) -> int:
    """``sarcube geoid``: print the geoid undulation N (m above WGS84) at LON LAT."""
    from cube.geometry import load_geoid

    if not (-90.0 <= args.lat <= 90.0):
        raise InputError(f"latitude {args.lat} is outside -90..90 degrees (the order is LON LAT)")
    grid = load_geoid(args.model)
    print(f"{float(grid.undulation(args.lat, args.lon)):.3f}")
    return 0


def cmd_product(args: argparse.Namespace) -> int:
    """``sarcube product``: compute a product window of one burst into a NetCDF or zarr file."""
    from cube.format import date_by_prefix
    from cube.products import BurstStack, get_product, split_complex
    from cube.storage import open_store

    out = Path(args.out)
    if out.suffix not in (".zarr", ".nc"):
        raise InputError(f"--out {args.out}: name a .nc (NetCDF) or .zarr output")
    if not out.absolute().parent.is_dir():
        raise InputError(f"--out {args.out}: folder {out.absolute().parent} does not exist; create it first")
    options = _product_options(args.product, ",".join(args.option or []))
    stack = BurstStack(open_store(args.cube), args.burst, args.pol)
    dates = [date_by_prefix(stack.dates, d, burst_id=stack.burst_id) for d in args.dates.split(",")]
    pair = get_product(args.product).pair
    if pair and len(dates) != 2:
        raise InputError(f"--dates: {args.product} is a pair product; give two dates REFERENCE,SECONDARY")
    window = None
    if args.window:
        try:
            rows, cols = (tuple(int(v) for v in part.split(":")) for part in args.window.split(","))
            window = (slice(*rows), slice(*cols))
        except ValueError:
            raise InputError(f"--window {args.window!r}: expected ROW0:ROW1,COL0:COL1") from None
    if getattr(options, "engine", "native") == "isce2":  # one ISCE2 job over these dates, then its chunks
        from cube.jobs import isce2_cslc_dataset

        ds = isce2_cslc_dataset(args.cube, stack, dates, options, args.source or [], window)
    else:
        date_sets = [tuple(dates)] if pair else [(d,) for d in dates]
        ds = stack.dataset(stack.selection(args.product, date_sets, window, options))
    if out.suffix == ".zarr":
        ds.to_zarr(out, mode="w", zarr_format=3, consolidated=True)
    else:
        split_complex(ds).to_netcdf(out, engine="h5netcdf")
    print(f"{args.product} {stack.burst_id} {','.join(dates)} {dict(ds.sizes)} -> {out}")
    return 0


def _product_options(product: str, segment: str):
    """The options model of ``product`` from ``key=value,...`` (the /zarr path-segment syntax)."""
    from pydantic import ValidationError

    from cube.products import get_product, parse_segment

    model = get_product(product).options
    fields = ", ".join(f"{k} ({_option_text(f.default)})" for k, f in model.model_fields.items())
    try:
        return parse_segment(model, segment)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise InputError(f"{product} options: {errors}; its options (default): {fields}") from None
    except ValueError as exc:
        raise InputError(f"{product} options: {exc}; write KEY=VALUE; its options (default): "
                         f"{fields}") from None


def _option_text(value: object) -> str:
    """An option's default as ``--option`` writes it: ``5x10``, ``true``."""
    if isinstance(value, tuple | list):
        return "x".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


DEMO_SERVE_UNATTENDED_S = 120.0


def cmd_demo(args: argparse.Namespace) -> int:
    """``sarcube demo``: simulate, ingest, compute ARD and serve a small cube."""
    from cube.demo import run_demo, serve_demo

    cube = run_demo(Path(args.out), dates=args.dates, bursts=args.bursts)
    seconds = args.serve_s
    if seconds is None:  # until Ctrl-C at a terminal; bounded when run by a script
        seconds = -1 if sys.stdin.isatty() else DEMO_SERVE_UNATTENDED_S
    if seconds != 0:
        serve_demo(cube, port=args.port, seconds=seconds)
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    """``sarcube subscribe``: add a keep-up subscription (products over an area) to a cube."""
    from cube.keepup import subscribe
    from cube.storage import open_store

    products = []
    for text in args.product:
        name, _, segment = text.partition(":")
        products.append({"product": name, "options": _product_options(name, segment).non_default()})
    bbox = [float(v) for v in args.bbox.split(",")] if args.bbox else None
    subs = subscribe(open_store(args.cube), {"id": args.id, "bbox": bbox, "polarization": args.pol.upper(),
                                             "products": products})
    print(f"{len(subs)} subscription(s) in {args.cube}: {', '.join(s.id for s in subs)}")
    return 0


def cmd_unsubscribe(args: argparse.Namespace) -> int:
    """``sarcube unsubscribe``: remove a subscription by id."""
    from cube.keepup import unsubscribe
    from cube.storage import open_store

    rest = unsubscribe(open_store(args.cube), args.id)
    print(f"removed {args.id}; {len(rest)} subscription(s) left")
    return 0


def cmd_subscriptions(args: argparse.Namespace) -> int:
    """``sarcube subscriptions``: print the cube's subscriptions as JSON lines."""
    from cube.format import CUBE_DOC
    from cube.keepup import read_subscriptions
    from cube.storage import open_store

    store = open_store(args.cube)
    if not store.exists(CUBE_DOC):
        raise NotFoundError(f"{args.cube}: not a sarcube cube (no cube.json); check the path")
    for sub in read_subscriptions(store):
        print(sub.model_dump_json())
    return 0


def cmd_keep_up(args: argparse.Namespace) -> int:
    """``sarcube keep-up``: ingest new SLCs, then compute what the subscriptions ask for."""
    from cube.keepup import keep_up
    from cube.materialize import ArdEngine
    from cube.storage import open_store

    cube = open_store(args.cube)
    report = keep_up(args.sources, cube, ArdEngine(cube), orbit_file=args.orbit)
    print(json.dumps(report.as_dict(), indent=1))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``sarcube serve``: serve the API over a cube with uvicorn until stopped."""
    # Start-up makes some 50,000 objects the collector tracks, nearly all living as long as the
    # server, and it would scan them again and again as they are made (13-20 ms a full pass; some
    # 35 ms of the first answer in all): no collection until the app is built, and none of them
    # scanned after (frozen).
    gc.disable()
    try:
        import uvicorn

        from cube.api import create_app

        app = create_app(**_serve_settings(args))  # InputError (exit 2) when no authentication is set
    finally:
        gc.enable()
    gc.freeze()
    auth = app.state.auth
    ways = [w for w, on in (("API keys", auth.keys), ("JWTs", auth.jwks),
                            ("gateway claims", auth.mode == "gateway")) if on]
    print(f"sarcube API on http://{args.host}:{args.port} (OpenAPI docs at /docs); Ctrl-C stops it")
    print(f"callers identified by {', '.join(ways) or 'nothing'}; anonymous reads "
          f"{'allowed (they never start jobs)' if auth.allow_anonymous else 'refused'}")
    # no websocket routes: ws='none' spares the websockets import at start-up
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, ws="none")
    return 0


def _serve_settings(args: argparse.Namespace) -> dict:
    """The settings ``sarcube serve``'s flags give (over the ``SARCUBE_*`` environment)."""
    overrides = {"cube_url": args.cube}
    if args.ard:
        overrides["ard_url"] = args.ard
    if args.api_keys:
        overrides["api_keys_file"] = args.api_keys
    if args.jwt_issuer:
        overrides["jwt_issuer"] = args.jwt_issuer
    if args.jwt_audience:
        overrides["jwt_audience"] = args.jwt_audience
    if args.allow_anonymous:
        overrides["allow_anonymous"] = True
    return overrides


def cmd_verify(args: argparse.Namespace) -> int:
    """``sarcube verify``: check every stored chunk's checksum; ``--repair`` deletes bad ARD chunks."""
    from cube.storage import make_lease_backend, open_store
    from cube.verify import report_json, verify_cube

    offset = _measurement_offset(args)
    if args.measurement is not None and not args.restore:
        raise InputError("--measurement goes with --restore ANNOTATION.xml")
    cube = open_store(args.cube)
    report_ard = open_store(args.ard, cube.storage_options) if args.ard else None
    report = verify_cube(
        cube, report_ard,
        make_lease_backend(args.leases) if args.leases else None, repair=args.repair,
        partial_age_s=args.partial_age_min * 60.0, progress=not (args.quiet or args.json),
    )
    if args.restore and any(p.store == "slc" for p in report.problems):
        from cube.verify import restore_slc

        restored = restore_slc(cube, args.restore, report.problems, measurement=args.measurement,
                               measurement_offset=offset)
        print(f"restored {len({(p.burst_id, p.polarization, p.date_key) for p in restored})} burst date(s) "
              f"from {len(args.restore)} SAFE(s); checking again", file=sys.stderr)
        report = verify_cube(cube, report_ard, make_lease_backend(args.leases) if args.leases else None,
                             repair=args.repair, partial_age_s=args.partial_age_min * 60.0,
                             progress=not (args.quiet or args.json))
    print(report_json(report) if args.json else report.summary())
    return 0 if report.ok else 1


#: OS errors of a local path given on the command line (exit 2, with the path).
LOCAL_PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
DEFAULT_SERVER = "http://127.0.0.1:8000"
#: Where `sarcube jobs` reads an API key when --api-key is not given.
API_KEY_ENV = "SARCUBE_API_KEY"


def _api(args: argparse.Namespace):
    """An httpx client of ``--server`` sending ``--api-key`` (or $SARCUBE_API_KEY) as a bearer token."""
    import os

    import httpx

    key = args.api_key or os.environ.get(API_KEY_ENV)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=args.server.rstrip("/"), headers=headers, timeout=args.timeout_s)


def _call(client, method: str, path: str, **kw):
    """``client.request``; a CubeError naming the server and what to do when it fails."""
    import httpx

    where = f"{client.base_url}{path}"
    try:
        response = client.request(method, path, **kw)
    except httpx.TransportError as exc:
        raise StorageUnavailableError(
            f"{where}: no answer ({type(exc).__name__}); check --server, or start the API with "
            "`sarcube serve --cube CUBE`") from None
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    detail = " ".join(str(detail).split())[:500]
    if response.status_code == 401:
        raise InputError(f"{where}: {detail}; give an API key with --api-key KEY or ${API_KEY_ENV}")
    if response.status_code == 404:
        raise NotFoundError(f"{where}: {detail}")
    if response.status_code >= 500:
        raise StorageUnavailableError(f"{where}: server error {response.status_code}: {detail}; retry later")
    raise InputError(f"{where}: {response.status_code}: {detail}")


def cmd_jobs_submit(args: argparse.Namespace) -> int:
    """``sarcube jobs submit``: send a job file's bursts to a server; print the job id and URL."""
    from cube.jobs import load_job

    spec = load_job(args.file)  # the job file sarcube-worker runs: one model, cube.jobs.JobSpec
    if spec.engine != "native":
        raise InputError(f"{args.file}: engine {spec.engine!r} is per product on a server: drop the job's "
                         "engine and give the cslc product options {engine: isce2}")
    with _api(args) as client:
        body = {"bursts": [b.model_dump(mode="json", exclude_defaults=True) for b in spec.bursts]}
        answer = _call(client, "POST", "/jobs", json=body)
    print(f"{answer['job_id']} {args.server.rstrip('/')}{answer['location']} ({answer['state']})")
    print(f"follow it with: sarcube jobs watch {answer['job_id']} --server {args.server}", file=sys.stderr)
    return 0


def cmd_jobs_watch(args: argparse.Namespace) -> int:
    """``sarcube jobs watch``: a progress bar of a job's bursts until it ends; exit 0 or 4 (failed)."""
    import time

    from tqdm import tqdm

    with _api(args) as client, tqdm(unit="burst", desc=args.id[:12], disable=args.quiet,
                                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} bursts "
                                    "{postfix}") as bar:
        while True:
            job = _call(client, "GET", f"/jobs/{args.id}")
            progress = job["progress"]
            bar.total = progress["total"]
            bar.n = progress["done"]
            left = progress.get("remaining_s")
            bar.set_postfix_str(f"{job['state']}, " + (f"~{left:.0f} s left" if left is not None
                                                       else "time left unknown"), refresh=False)
            bar.refresh()
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(args.interval_s)
    print(f"job {args.id} {job['state']}: {job['message'] or '-'}")
    return 0 if job["state"] == "succeeded" else 4


VERIFY_HELP = """\
Read every SLC and ARD chunk of a cube and check it: its crc32c checksum (format 1.1; burst
groups created earlier have none and are only decoded) and that it decodes to its chunk shape.
A bad SLC chunk cannot be recomputed: the report names the burst, polarization and date to
restore from its SAFE; --restore SAFE rewrites those dates' pixels from the SAFEs given (ingest
skips dates the cube holds already); a date ingested from a crop is restored with the same
annotation XML, --measurement TIFF and --measurement-offset. A bad ARD chunk is never served
(the engine recomputes it on its next read); --repair deletes it now. --repair also removes
leftovers of killed processes: *.partial temporary files older than --partial-age-min and
expired leases (leftovers alone are not problems).

exit codes: 0 no bad chunk; 1 bad chunk(s) found (with --repair the ARD ones were deleted:
run again to confirm); 2 error (not a cube, store unreadable)."""


def _unreachable(exc: Exception) -> bool:
    """Whether ``exc`` (raised by zarr or fsspec below the cube's own reads) means "store unreachable".

    ``cube.storage`` (fsspec; botocore and aiohttp for these errors) is imported only here, on an
    error: ``--help`` and ``info`` stay light.
    """
    from cube.storage import unreachable_errors

    return isinstance(exc, unreachable_errors())


def measurement_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--measurement TIFF`` and ``--measurement-offset ROW,COL`` (ingest, verify --restore)."""
    p.add_argument(
        "--measurement", metavar="TIFF",
        help="with one annotation XML: its pixels, a CInt16 TIFF of the whole swath or of a window "
        f"of it ({what})",
    )
    p.add_argument(
        "--measurement-offset", metavar="ROW,COL",
        help="0-based swath line and sample of the --measurement TIFF's first pixel (default 0,0)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="sarcube", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"sarcube {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--swaths", type=_csv, help="e.g. IW1,IW2 (default: all)")
        p.add_argument("--pols", type=_csv, help="e.g. VV,VH (default: all)")
        p.add_argument("--orbit", help="POEORB/RESORB .EOF to use instead of the annotation orbit")

    p = sub.add_parser("info", help="one record per burst of a product (metadata only)")
    p.add_argument("source", help=".SAFE folder, .zip or annotation XML; path, s3:// or https://")
    selection(p)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("ingest", help="ingest products into an SLC cube")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--cube", required=True, help="cube URL: a local path or s3://bucket/prefix")
    selection(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--lease-ttl-s", type=float, default=60.0, metavar="S",
        help="writer lease of each burst group, renewed while this ingest writes: how long a "
        "killed ingest blocks the next writer of its groups (default 60 s)",
    )
    measurement_options(p, "bursts partly covered are stored with 0 outside the window, others are "
                        "not stored")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("simulate", help="write a simulated stack of SAFE products")
    p.add_argument("out_dir")
    p.add_argument("--dates", type=int, default=3)
    p.add_argument("--bursts", type=int, default=2)
    p.add_argument("--size", choices=["tiny", "full"], default="tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deformation", choices=["linear", "nonlinear"], default="linear",
                   help="the Mogi field's history: linear in time, or linear + yearly cycle + a step")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("geolocate", help="stdin 'line sample height' -> stdout 'lat lon height'")
    p.add_argument("source")
    p.add_argument("--swath", type=str.upper, required=True)
    p.add_argument("--pol", type=str.upper, default="VV")
    p.add_argument("--orbit", help="POEORB/RESORB .EOF to use instead of the annotation orbit")
    p.add_argument("--times", action="store_true",
                   help="rows are 'azimuth_time(ISO UTC) slant_range_time(two-way s) height'")
    p.add_argument("--inverse", action="store_true", help="rows are 'lat lon height'")
    p.add_argument("--bistatic", action="store_true",
                   help="apply the IPF bistatic residual in line mode (matches ESA's grid to cm)")
    p.set_defaults(func=cmd_geolocate)

    p = sub.add_parser("baseline", help="ISCE2-convention Bpar/Bperp of a common burst, as JSON")
    p.add_argument("reference")
    p.add_argument("secondary")
    p.add_argument("--swath", type=str.upper, required=True)
    p.add_argument("--pol", type=str.upper, default="VV")
    p.add_argument("--burst", default="first", help="first, last or the reference burst index N")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser(
        "dem", help="record the DEM (GeoTIFF/COG path or URL, or cop30) a cube is geocoded with",
        description="Record the DEM a cube's products are geocoded with, and report what its heights "
        "are relative to and which geoid grid will be applied (h = H + N). DEM is a GeoTIFF/COG "
        "path or URL, or 'cop30': the Copernicus DEM GLO-30 read tile by tile from its public "
        "bucket (or --cop30-url, --endpoint-url: a bucket laid out the same way), only the windows "
        "each burst needs, cached in the cube.")
    p.add_argument("cube")
    p.add_argument("dem", help="GeoTIFF/COG path or URL, or cop30")
    p.add_argument("--vertical-datum", default="auto", choices=["auto", "ellipsoid", "egm96", "egm2008"],
                   help="what the heights are relative to (default: from the DEM's CRS; cop30: egm2008)")
    p.add_argument("--cop30-url", help="cop30: the bucket (default s3://copernicus-dem-30m, anonymous)")
    p.add_argument("--endpoint-url", help="cop30: the S3 endpoint of --cop30-url (credentials from the "
                   "usual AWS variables, or --anonymous)")
    p.add_argument("--anonymous", action="store_true", help="cop30: read --cop30-url without credentials")
    p.set_defaults(func=cmd_dem)

    p = sub.add_parser("geoid", help="print the geoid undulation N (m above WGS84) at LON LAT")
    p.add_argument("lon", type=float)
    p.add_argument("lat", type=float)
    p.add_argument("--model", default="egm96", choices=["egm96", "egm2008"])
    p.set_defaults(func=cmd_geoid)

    p = sub.add_parser("product", help="compute a product window of one burst to NetCDF or zarr")
    p.add_argument("cube")
    p.add_argument("product", help="cslc, backscatter, amplitude, interferogram or coherence")
    p.add_argument("--burst", required=True, help="burst ID, e.g. t108_230133_iw2")
    p.add_argument("--pol", default="VV")
    p.add_argument("--dates", required=True,
                   help="dates D1,D2,... (pair products: REFERENCE,SECONDARY); unique prefixes work")
    p.add_argument("--window", help="ROW0:ROW1,COL0:COL1 of the product grid (default: all)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="product option, repeatable: multilook=2x4, db=true, window=5x10 ...")
    p.add_argument("--source", action="append", metavar="SAFE_OR_FOLDER",
                   help="cslc with engine=isce2: the dates' SAFEs (folders, zips, or folders holding them)")
    p.add_argument("--out", required=True, help="output .nc (NetCDF) or .zarr")
    p.set_defaults(func=cmd_product)

    p = sub.add_parser("demo", help="simulate, ingest, compute ARD and serve a small cube (defaults)")
    p.add_argument("--out", default="demo-output")
    p.add_argument("--dates", type=int, default=3)
    p.add_argument("--bursts", type=int, default=2)
    p.add_argument("--port", type=int, default=8000, help="port of the API on 127.0.0.1")
    p.add_argument("--serve-s", type=float, default=None,
                   help="serve this many seconds (0: do not serve; default: until Ctrl-C at a terminal, "
                        f"{DEMO_SERVE_UNATTENDED_S:g} s otherwise)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("subscribe", help="keep products up to date over an area as new dates arrive")
    p.add_argument("cube")
    p.add_argument("--id", required=True, help="name of the subscription (replaces one of that name)")
    p.add_argument("--bbox", required=True, help="W,S,E,N in degrees (write --bbox=-8,51,-7,52)")
    p.add_argument("--product", action="append", required=True, metavar="NAME[:k=v,...]",
                   help="repeatable: backscatter:db=true, coherence:window=7x7 ...")
    p.add_argument("--pol", default="VV")
    p.set_defaults(func=cmd_subscribe)

    p = sub.add_parser("unsubscribe", help="remove a subscription by id")
    p.add_argument("cube")
    p.add_argument("id")
    p.set_defaults(func=cmd_unsubscribe)

    p = sub.add_parser("subscriptions", help="list the cube's subscriptions (JSON lines)")
    p.add_argument("cube")
    p.set_defaults(func=cmd_subscriptions)

    p = sub.add_parser("keep-up", help="ingest new SLCs, then compute what the subscriptions ask for")
    p.add_argument("cube")
    p.add_argument("sources", nargs="+", help="new SAFE/zip paths or URLs")
    p.add_argument("--orbit", help="POEORB/RESORB .EOF to use instead of the annotation orbit")
    p.set_defaults(func=cmd_keep_up)

    p = sub.add_parser("verify", help="check every stored chunk's checksum; --repair deletes bad ARD chunks",
                       description=VERIFY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cube", help="the cube (path or s3://)")
    p.add_argument("--ard", help="the ARD store (default <cube>/ard.zarr)")
    p.add_argument("--leases", help="lease backend URL (default: beside the ARD store; dynamodb:// "
                                    "leases expire by DynamoDB TTL and are not listed)")
    p.add_argument("--repair", action="store_true",
                   help="delete bad ARD chunks, stale *.partial files and expired leases (never SLC chunks)")
    p.add_argument("--restore", nargs="+", metavar="SAFE",
                   help="rewrite the pixels of dates with bad SLC chunks from these SAFEs, then check again")
    measurement_options(p, "as given to the ingest of the dates restored: a date ingested from a crop "
                        "is restored from the same crop")
    p.add_argument("--partial-age-min", type=float, default=15.0,
                   help="a *.partial file older than this many minutes was left by a killed writer")
    p.add_argument("--json", action="store_true", help="print the report as JSON (no progress bar)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("jobs", help="submit a job file to a server, or follow a job's progress")
    jobs = p.add_subparsers(dest="jobs_command", required=True)

    def server(q: argparse.ArgumentParser) -> None:
        q.add_argument("--server", default=DEFAULT_SERVER, help=f"the API's URL (default {DEFAULT_SERVER})")
        q.add_argument("--api-key", help=f"API key, sent as a bearer token (default ${API_KEY_ENV})")
        q.add_argument("--timeout-s", type=float, default=30.0, help="per request (default 30 s)")

    q = jobs.add_parser("submit", help="send a job file (JSON or YAML, as sarcube-worker --job reads) to a "
                        "server; print the job id and URL",
                        description="Send the bursts of a job file to a server's POST /jobs. The server "
                        "runs them on its own cube and ARD store (the file's cube_url, ard_url and "
                        "storage_options stay here).")
    q.add_argument("file", help="job file: path or URL (cube.jobs.JobSpec as JSON or YAML)")
    server(q)
    q.set_defaults(func=cmd_jobs_submit)
    q = jobs.add_parser("watch", help="a progress bar until the job ends (exit 0 succeeded, 4 failed)")
    q.add_argument("id", help="the job id (sarcube jobs submit prints it)")
    server(q)
    q.add_argument("--interval-s", type=float, default=2.0, help="seconds between polls (default 2)")
    q.add_argument("--quiet", action="store_true", help="no progress bar, only the final line")
    q.set_defaults(func=cmd_jobs_watch)

    p = sub.add_parser("serve", help="serve the API (STAC, zarr, ARD, tiles, viewer, jobs) over a cube")
    p.add_argument("--cube", required=True, help="the cube (path or s3://); SARCUBE_* env for the rest")
    p.add_argument("--ard", help="the ARD store (default <cube>/ard.zarr)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--log-level", default="info")
    p.add_argument("--api-keys", metavar="FILE",
                   help='JSON {"user": "<SHA-256 hex of the key>"}; requests send '
                   "Authorization: Bearer <key>")
    p.add_argument("--jwt-issuer", metavar="URL", help="accept OIDC JWTs of this issuer (JWKS via discovery)")
    p.add_argument("--jwt-audience", metavar="ID", help="the audience (client ID) those JWTs must name")
    p.add_argument("--allow-anonymous", action="store_true",
                   help="serve reads without credentials (never starts a job); required if no auth is set")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand and return its exit code.

    A CubeError becomes one line on stderr and exit 2, an unreachable store exit 3 (see
    EXIT_CODES).
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except StorageUnavailableError as exc:
        print(f"sarcube: error: {exc}", file=sys.stderr)
        return 3
    except CubeError as exc:
        print(f"sarcube: error: {exc}", file=sys.stderr)
        return 2
    except LOCAL_PATH_ERRORS as exc:  # a local path given on the command line: missing, not writable
        what = (f"{exc.filename}: {exc.strerror or type(exc).__name__}" if exc.filename
                else " ".join(str(exc).split()))
        print(f"sarcube: error: {what}; check the path (its folder must exist) and its permissions",
              file=sys.stderr)
        return 2
    except Exception as exc:
        if not _unreachable(exc):
            raise
        text = f"storage unreachable ({type(exc).__name__}: {' '.join(str(exc).split())}); retry later"
        print(f"sarcube: error: {text}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("sarcube: interrupted; the cube holds only complete dates", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
