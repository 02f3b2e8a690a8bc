"""Tests of cube.simulate: format fidelity (XSD, element paths, TIFF, xarray-sentinel) and
physics, checked with geometry / TOPS deramping written independently here with numpy."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from lxml import etree
from scipy.ndimage import map_coordinates

from cube.simulate import load_truth, simulate_stack

SHARED = Path(__file__).parents[2].parent / "shared"
S1 = SHARED / "data" / "sentinel1"
EFA4 = S1 / "xarray-sentinel/tests/data/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
REAL = S1 / "hyp3-isce2/tests/data/packaging/slc/S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE"
REAL_STEM = "s1a-iw2-slc-vv-20250406t022010-20250406t022035-058630-07421f-005"
C_LIGHT = 299_792_458.0
# elements that IPF >= 3.40 added after the 2021 XSD shipped with the EFA4 product
NEWER_IPF_ELEMENTS = ("burstId", "rfiMitigationPerformed", "rfiMitigationDomain")


def need_shared() -> None:
    if not S1.is_dir():
        pytest.skip(f"real Sentinel-1 reference files not available ({S1} is absent)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return simulate_stack(tmp_path_factory.mktemp("sim"), dates=3, bursts=2, size="tiny", seed=7)


@pytest.fixture(scope="module")
def truth(stack):
    return load_truth(stack.truth_dir)


def files(safe: Path) -> dict[str, Path]:
    (ann,) = (safe / "annotation").glob("s1a-*.xml")
    stem = ann.stem
    return {"annotation": ann, "tiff": safe / "measurement" / f"{stem}.tiff",
            "calibration": safe / "annotation/calibration" / f"calibration-{stem}.xml",
            "noise": safe / "annotation/calibration" / f"noise-{stem}.xml",
            "manifest": safe / "manifest.safe"}


def element_paths(path: Path) -> set[str]:
    tree = etree.parse(str(path))
    out = set()
    for el in tree.iter():
        if isinstance(el.tag, str):
            out.add(re.sub(r"\[\d+\]", "", tree.getpath(el)))
    return out


def local_paths(path: Path) -> set[str]:
    """Element paths with namespace prefixes dropped (manifests use several namespaces)."""
    tree = etree.parse(str(path))
    out = set()
    for el in tree.iter():
        if isinstance(el.tag, str):
            names = [etree.QName(a).localname for a in [*reversed(list(el.iterancestors())), el]]
            out.add("/".join(names))
    return out


# ---------------------------------------------------------------------------------------------
# independent numpy helpers: XML parsing, orbit interpolation, zero-Doppler geometry, deramping
def seconds(t: str) -> float:
    """Seconds since midnight of an annotation time string."""
    hh, mm, ss = t[11:].split(":")
    return int(hh) * 3600 + int(mm) * 60 + float(ss)


class Annotation:
    def __init__(self, path: Path) -> None:
        self.tree = etree.parse(str(path))
        f = self.tree.findtext
        self.lpb = int(f(".//swathTiming/linesPerBurst"))
        self.samples = int(f(".//swathTiming/samplesPerBurst"))
        self.ati = float(f(".//imageInformation/azimuthTimeInterval"))
        self.tau0 = float(f(".//imageInformation/slantRangeTime"))
        self.fs = float(f(".//productInformation/rangeSamplingRate"))
        self.wavelength = C_LIGHT / float(f(".//productInformation/radarFrequency"))
        self.steer = np.radians(float(f(".//productInformation/azimuthSteeringRate")))
        self.bursts = [seconds(b.findtext("azimuthTime")) for b in self.tree.iterfind(".//burstList/burst")]
        orbits = list(self.tree.iterfind(".//orbitList/orbit"))
        self.orbit_t = np.array([seconds(o.findtext("time")) for o in orbits])
        self.orbit_p = np.array([[float(o.findtext(f"position/{c}")) for c in "xyz"] for o in orbits])
        self.orbit_v = np.array([[float(o.findtext(f"velocity/{c}")) for c in "xyz"] for o in orbits])
        # least-squares polynomial (degree 5) through positions and velocities
        self.tm = self.orbit_t.mean()
        x = self.orbit_t - self.tm
        deg = 5
        a_pos = np.vander(x, deg + 1, increasing=True)
        a_vel = np.hstack([np.zeros((len(x), 1)), a_pos[:, :-1] * np.arange(1, deg + 1)])
        a = np.vstack([a_pos, a_vel * 100.0])
        self.coef = np.linalg.lstsq(a, np.vstack([self.orbit_p, self.orbit_v * 100.0]), rcond=None)[0]

    def pos(self, t):
        return np.polynomial.polynomial.polyval(np.asarray(t) - self.tm, self.coef).T

    def vel(self, t):
        return np.polynomial.polynomial.polyval(np.asarray(t) - self.tm, np.polynomial.polynomial.polyder(self.coef)).T

    def acc(self, t):
        return np.polynomial.polynomial.polyval(np.asarray(t) - self.tm, np.polynomial.polynomial.polyder(self.coef, 2)).T

    def zero_doppler(self, xyz: np.ndarray, t0: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.full(len(xyz), t0)
        for _ in range(12):
            d = xyz - self.pos(t)
            v = self.vel(t)
            t = t - np.sum(d * v, 1) / (-np.sum(v * v, 1) + np.sum(d * self.acc(t), 1))
        return t, np.linalg.norm(xyz - self.pos(t), axis=1)

    def nearest(self, xpath: str, t: float) -> etree._Element:
        items = list(self.tree.iterfind(xpath))
        return items[int(np.argmin([abs(seconds(e.findtext("azimuthTime")) - t) for e in items]))]

    def tops_terms(self, b: int) -> tuple[np.ndarray, ...]:
        """η (lines,), and kt, η_ref, f_ηc (samples,) of burst ``b`` (S1-TN-MDA-52-7445)."""
        mid = self.bursts[b] + self.lpb / 2 * self.ati
        dc = self.nearest(".//dcEstimateList/dcEstimate", mid)
        fm = self.nearest(".//azimuthFmRateList/azimuthFmRate", mid)
        tau = self.tau0 + np.arange(self.samples) / self.fs
        fdc = np.polynomial.polynomial.polyval(
            tau - float(dc.findtext("t0")), [float(x) for x in dc.findtext("dataDcPolynomial").split()])
        ka = np.polynomial.polynomial.polyval(
            tau - float(fm.findtext("t0")), [float(x) for x in fm.findtext("azimuthFmRatePolynomial").split()])
        ks = 2 * np.linalg.norm(self.vel(mid)) / self.wavelength * self.steer
        kt = ka * ks / (ka - ks)
        eta_c = -fdc / ka
        eta_ref = eta_c - eta_c[0]
        eta = (np.arange(self.lpb) - self.lpb / 2) * self.ati
        return eta, kt, eta_ref, fdc

    def deramp_phase(self, b: int) -> np.ndarray:
        """ESA deramp-demodulation phase φ(η, τ) (lines, samples) of burst ``b``:
        φ = −π kt (η − η_ref)² − 2π f_ηc (η − η_ref); deramped = SLC · exp(jφ)."""
        eta, kt, eta_ref, fdc = self.tops_terms(b)
        d = eta[:, None] - eta_ref[None, :]
        return -np.pi * kt * d**2 - 2 * np.pi * fdc * d


def llh_to_xyz(lat, lon, h):
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    la, lo = np.radians(lat), np.radians(lon)
    n = a / np.sqrt(1 - e2 * np.sin(la) ** 2)
    return np.stack([(n + h) * np.cos(la) * np.cos(lo), (n + h) * np.cos(la) * np.sin(lo),
                     (n * (1 - e2) + h) * np.sin(la)], axis=-1)


def local_dc(block: np.ndarray, prf: float) -> float:
    """Doppler centroid (Hz) of a block from the lag-one azimuth correlation."""
    return float(np.angle(np.sum(block[1:] * np.conj(block[:-1]))) * prf / (2 * np.pi))


def sinc_interp(img: np.ndarray, rows: np.ndarray, cols: np.ndarray, half: int = 8) -> np.ndarray:
    """2-D Hann-windowed sinc interpolation of a baseband image at fractional positions."""
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    k = np.arange(-half + 1, half + 1)
    dr = rows[:, None] - (r0[:, None] + k)
    dc = cols[:, None] - (c0[:, None] + k)
    wr = np.sinc(dr) * (0.5 + 0.5 * np.cos(np.pi * dr / half))
    wc = np.sinc(dc) * (0.5 + 0.5 * np.cos(np.pi * dc / half))
    patch = img[(r0[:, None] + k)[:, :, None], (c0[:, None] + k)[:, None, :]]
    return np.einsum("pi,pij,pj->p", wr, patch, wc)


# ---------------------------------------------------------------------------------------------
def test_layout_and_names(stack):
    assert len(stack.safe_paths) == 3
    names = [p.name for p in stack.safe_paths]
    assert names == sorted(names)
    orbits = [int(n.split("_")[7]) for n in names]
    assert np.all(np.diff(orbits) == 175)
    assert {(o - 73) % 175 + 1 for o in orbits} == {108}
    heading = float(Annotation(files(stack.safe_paths[0])["annotation"]).tree.findtext(".//platformHeading"))
    assert -16 < heading < -14  # ascending at 51.5° N (the seed product says −15.4°)
    assert all(re.fullmatch(r"S1A_IW_SLC__1SSV_\d{8}T\d{6}_\d{8}T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}\.SAFE", n)
               for n in names)
    for p in stack.safe_paths:
        assert all(f.is_file() for f in files(p).values())


def test_annotation_validates_against_esa_xsd(stack):
    import xarray_sentinel

    resources = Path(xarray_sentinel.__file__).parent / "resources/sentinel1"
    schemas = {kind: etree.XMLSchema(etree.parse(str(resources / f"s1-level-1-{name}.xsd")))
               for kind, name in (("annotation", "product"), ("calibration", "calibration"),
                                  ("noise", "noise"))}
    for safe in stack.safe_paths:
        for kind, schema in schemas.items():
            assert schema.validate(etree.parse(str(files(safe)[kind]))), schema.error_log


def test_annotation_validates_against_efa4_product_xsd(stack):
    """The 2021 XSD of the brief predates burstId and the RFI fields (IPF 3.40+, also absent
    from it in real 2025 products): valid once those newer elements are removed."""
    need_shared()
    schema = etree.XMLSchema(etree.parse(str(EFA4 / "support/s1-level-1-product.xsd")))
    doc = copy.deepcopy(etree.parse(str(files(stack.safe_paths[0])["annotation"])))
    for tag in NEWER_IPF_ELEMENTS:
        for el in list(doc.iter(tag)):
            el.getparent().remove(el)
    assert schema.validate(doc), schema.error_log


def test_element_paths_match_real_products(stack):
    need_shared()
    mine = files(stack.safe_paths[0])
    real_cal = REAL / "annotation/calibration"
    assert element_paths(mine["calibration"]) == element_paths(real_cal / f"calibration-{REAL_STEM}.xml")
    assert element_paths(mine["noise"]) == element_paths(real_cal / f"noise-{REAL_STEM}.xml")
    assert element_paths(mine["annotation"]) == element_paths(REAL / f"annotation/{REAL_STEM}.xml")
    manifest, real_manifest = local_paths(mine["manifest"]), local_paths(REAL / "manifest.safe")
    assert manifest <= real_manifest
    assert "XFDU/dataObjectSection/dataObject/byteStream/fileLocation" in manifest


def test_manifest_points_at_every_file(stack):
    import hashlib

    for safe in stack.safe_paths:
        tree = etree.parse(str(files(safe)["manifest"]))
        hrefs = {}
        for obj in tree.iterfind(".//dataObject"):
            loc = obj.find(".//fileLocation").get("href")
            hrefs[loc] = obj
            data = (safe / loc).read_bytes()
            assert int(obj.find("byteStream").get("size")) == len(data)
            assert obj.findtext(".//checksum") == hashlib.md5(data).hexdigest()
        written = {"./" + str(p.relative_to(safe)) for p in safe.rglob("*") if p.is_file()}
        assert set(hrefs) == written - {"./manifest.safe"}
        ns = {"safe": "http://www.esa.int/safe/sentinel-1.0"}
        orbit = int(tree.findtext(".//safe:orbitNumber", namespaces=ns))
        assert str(orbit) in safe.name
        assert int(tree.findtext(".//safe:relativeOrbitNumber", namespaces=ns)) == (orbit - 73) % 175 + 1


def test_tiff_is_cint16_with_valid_windows(stack):
    for safe in stack.safe_paths:
        f = files(safe)
        ann = Annotation(f["annotation"])
        with tifffile.TiffFile(f["tiff"]) as tif:
            page = tif.pages[0]
            assert page.tags["SampleFormat"].value == 5
            assert page.tags["BitsPerSample"].value == 32
            assert page.compression == 1 and page.rowsperstrip == 1
            assert 33922 in page.tags  # GCPs
            data = page.asarray()
            offsets = page.dataoffsets
        assert data.dtype == np.complex64
        assert data.shape == (2 * ann.lpb, ann.samples)
        assert np.all(data.real == np.round(data.real)) and np.all(np.abs(data.real) < 32768)
        for b, burst in enumerate(ann.tree.iterfind(".//burstList/burst")):
            assert int(burst.findtext("byteOffset")) == offsets[b * ann.lpb]
            first = np.array(burst.findtext("firstValidSample").split(), int)
            last = np.array(burst.findtext("lastValidSample").split(), int)
            block = data[b * ann.lpb:(b + 1) * ann.lpb]
            valid = (first >= 0)[:, None] & (np.arange(ann.samples)[None] >= first[:, None]) & (
                np.arange(ann.samples)[None] <= last[:, None])
            assert 0 < (first < 0).sum() < 0.1 * ann.lpb
            assert np.all(block[~valid] == 0)
            assert np.mean(block[valid] != 0) > 0.999


def test_geometry_is_consistent_with_truth(stack, truth):
    """Truth ground points of the sample pixels, projected with the annotation orbit and timing
    (independent zero-Doppler solver), fall on their pixel; the geolocation grid heights are the
    truth DEM and its times/ranges are the zero-Doppler solution of its lat/lon/height."""
    for k, safe in enumerate(stack.safe_paths):
        ann = Annotation(files(safe)["annotation"])
        xyz = llh_to_xyz(truth["sample_lat"][k], truth["sample_lon"][k], truth["sample_height"][k])
        t, r = ann.zero_doppler(xyz, ann.bursts[0])
        b = truth["sample_burst"]
        line = (t - np.array(ann.bursts)[b]) / ann.ati
        sample = (2 * r / C_LIGHT - ann.tau0) * ann.fs
        np.testing.assert_allclose(line, truth["sample_line"], atol=2e-3)
        np.testing.assert_allclose(sample, truth["sample_sample"], atol=2e-3)

        pts = list(ann.tree.iterfind(".//geolocationGridPoint"))
        lat, lon, h, tau = (np.array([float(p.findtext(name)) for p in pts])
                            for name in ("latitude", "longitude", "height", "slantRangeTime"))
        np.testing.assert_allclose(h, truth.interp("dem_height", lat, lon), atol=0.5)
        t, r = ann.zero_doppler(llh_to_xyz(lat, lon, h), ann.bursts[0])
        np.testing.assert_allclose(t, [seconds(p.findtext("azimuthTime")) for p in pts], atol=2e-6)
        np.testing.assert_allclose(2 * r / C_LIGHT, tau, rtol=0, atol=2e-10)


def test_xarray_sentinel_reads_the_product(stack, truth):
    import xarray_sentinel

    safe = stack.safe_paths[0]
    f = files(safe)
    ann = Annotation(f["annotation"])
    data = tifffile.imread(f["tiff"])
    root = xarray_sentinel.open_sentinel1_dataset(safe)
    assert root.attrs["relative_orbit_number"] == 108 and root.attrs["pass"] == "ASCENDING"
    swath = xarray_sentinel.open_sentinel1_dataset(safe, group="IW2/VV")
    np.testing.assert_array_equal(swath.measurement.values, data)
    for b in range(2):
        burst = xarray_sentinel.open_sentinel1_dataset(safe, group=f"IW2/VV/{b}")
        np.testing.assert_array_equal(burst.measurement.values, data[b * ann.lpb:(b + 1) * ann.lpb])
        t0 = burst.azimuth_time.values[0]
        day = t0.astype("datetime64[D]")
        assert abs((t0 - day) / np.timedelta64(1, "us") * 1e-6 - ann.bursts[b]) < 1e-6
        assert burst.attrs["burst_id"] > 0
    orbit = xarray_sentinel.open_sentinel1_dataset(safe, group="IW2/VV/orbit")
    np.testing.assert_allclose(orbit.position.values.T, ann.orbit_p)
    cal = xarray_sentinel.open_sentinel1_dataset(safe, group="IW2/VV/calibration")
    noise = xarray_sentinel.open_sentinel1_dataset(safe, group="IW2/VV/noise_range")
    assert np.all(cal.betaNought.values == 237.0)
    # radiometry: calibrated intensity minus noise matches the true σ0 on average
    burst = xarray_sentinel.open_sentinel1_dataset(safe, group="IW2/VV/0")
    inner = burst.measurement[10:-10, 30:-30]
    sigma0 = xarray_sentinel.calibrate_intensity(inner, cal.sigmaNought)
    sig = cal.sigmaNought.interp(pixel=inner.pixel).mean("line").values
    nesz = (noise.noiseRangeLut.interp(pixel=inner.pixel).mean("line").values / sig**2).mean()
    assert -25 < 10 * np.log10(nesz) < -20
    measured = float(sigma0.mean()) - nesz
    expected = float(np.mean(truth["sample_sigma0"][0][truth["sample_burst"] == 0]))
    assert abs(10 * np.log10(measured / expected)) < 1.5


def test_tops_carrier_follows_the_esa_deramping_function(stack):
    """Raw bursts carry a Doppler centroid that sweeps at kt (> 0) around f_ηc; after the ESA
    deramp-demodulation, written here from the XML, every block is at baseband."""
    f = files(stack.safe_paths[1])
    ann = Annotation(f["annotation"])
    data = tifffile.imread(f["tiff"])
    prf = 1 / ann.ati
    for b in range(2):
        raw = data[b * ann.lpb:(b + 1) * ann.lpb, 40:-40]
        phi = ann.deramp_phase(b)[:, 40:-40]
        deramped = raw * np.exp(1j * phi)
        centres, raw_dc, flat_dc = [], [], []
        for l0 in range(8, ann.lpb - 24, 16):
            centres.append((l0 + 8 - ann.lpb / 2) * ann.ati)
            raw_dc.append(local_dc(raw[l0:l0 + 16], prf))
            flat_dc.append(local_dc(deramped[l0:l0 + 16], prf))
        slope = np.polyfit(centres, np.unwrap(np.array(raw_dc) * 2 * np.pi / prf) * prf / (2 * np.pi), 1)[0]
        kt = ann.tops_terms(b)[1][40:-40].mean()
        assert 1000 < kt < 2000  # IW2: the Doppler centroid sweeps forward at ~1.5 kHz/s
        assert abs(slope / kt - 1) < 0.1
        # the lag-one estimate on 16 × 400 pixels scatters by a few Hz (bright patches dominate)
        assert np.max(np.abs(flat_dc)) < 12.0
        spectrum = np.mean(np.abs(np.fft.fft(deramped[8:-8], axis=0)) ** 2, axis=1)
        freq = np.fft.fftfreq(spectrum.size, ann.ati)
        assert spectrum[np.abs(freq) < 160].sum() / spectrum.sum() > 0.9
        raw_spectrum = np.mean(np.abs(np.fft.fft(raw[8:-8], axis=0)) ** 2, axis=1)
        assert raw_spectrum[np.abs(freq) < 160].sum() / raw_spectrum.sum() < 0.85


def test_interferogram_phase_matches_truth_deformation(stack, truth):
    """At ground points of the stable (γ ≥ 0.9) area, SLCs of dates 0 and 2 are interpolated
    (deramp, sinc, reramp) at their own zero-Doppler positions; after removing −4π(R0 − R2)/λ
    the phase equals the true deformation phase difference (the carrier is ground-locked)."""
    anns = [Annotation(files(s)["annotation"]) for s in stack.safe_paths]
    slcs = [tifffile.imread(files(s)["tiff"]) for s in stack.safe_paths]
    lat, lon = np.meshgrid(truth["dem_lat"], truth["dem_lon"], indexing="ij")
    stable = truth["region_weights"][0] > 0.98
    cand = np.flatnonzero(stable.ravel())
    xyz = llh_to_xyz(lat.ravel()[cand], lon.ravel()[cand], truth["dem_height"].ravel()[cand])
    results = {}
    for k in (0, 2):
        a, slc = anns[k], slcs[k]
        t, r = a.zero_doppler(xyz, a.bursts[0])
        sample = (2 * r / C_LIGHT - a.tau0) * a.fs
        burst = np.clip(np.round((t - a.bursts[0]) / (a.bursts[1] - a.bursts[0])).astype(int), 0, 1)
        line = (t - np.array(a.bursts)[burst]) / a.ati
        ok = (line > 20) & (line < a.lpb - 20) & (sample > 40) & (sample < a.samples - 40)
        values = np.zeros(len(xyz), complex)
        for b in (0, 1):
            sel = ok & (burst == b)
            phi = a.deramp_phase(b)
            deramped = slc[b * a.lpb:(b + 1) * a.lpb] * np.exp(1j * phi)
            # reramp at the fractional positions: φ is smooth and unwrapped, linear
            # interpolation of it is good to ~5e-3 rad
            phi_at = map_coordinates(phi, [line[sel], sample[sel]], order=1)
            values[sel] = sinc_interp(deramped, line[sel], sample[sel]) * np.exp(-1j * phi_at)
        results[k] = (values, r, ok)
    ok = results[0][2] & results[2][2]
    assert ok.sum() > 50
    ifg = results[0][0][ok] * np.conj(results[2][0][ok])
    flat = np.exp(1j * 4 * np.pi / anns[0].wavelength * (results[0][1][ok] - results[2][1][ok]))
    def_diff = (truth["def_phase"][0] - truth["def_phase"][2]).ravel()[cand][ok]
    residual = ifg * flat * np.exp(-1j * def_diff)
    coherence = np.abs(residual.sum()) / np.sqrt(np.sum(np.abs(results[0][0][ok]) ** 2)
                                                   * np.sum(np.abs(results[2][0][ok]) ** 2))
    assert abs(np.angle(residual.sum())) < 0.1
    assert coherence > 0.85
    assert np.ptp(def_diff) > 0.5 or abs(def_diff).max() > 1  # deformation is actually present


def test_truth_contents(truth):
    assert truth["dates"].tolist() == ["2024-01-06", "2024-01-18", "2024-01-30"]
    g = truth["coherence_regions"]
    assert g[0, 0, 1] >= 0.9 and g[2, 0, 2] < 0.2
    np.testing.assert_allclose(truth["region_weights"].sum(0), 1, atol=1e-6)
    np.testing.assert_allclose(truth["chol"] @ np.swapaxes(truth["chol"], 1, 2), g, atol=1e-12)
    assert np.ptp(truth["dem_height"]) > 100
    assert np.any(truth["baseline_perp"][1:] != 0)
    c = truth.coherence(truth["sample_lat"][0], truth["sample_lon"][0])
    assert c.shape == (truth["sample_lat"].shape[1], 3, 3)
    np.testing.assert_allclose(np.einsum("pii->pi", c), 1)
    assert np.all(truth["def_phase"][0] == 0)


def test_deterministic_for_a_seed(tmp_path):
    a = simulate_stack(tmp_path / "a", dates=2, bursts=1, seed=3)
    b = simulate_stack(tmp_path / "b", dates=2, bursts=1, seed=3)
    c = simulate_stack(tmp_path / "c", dates=2, bursts=1, seed=4)
    for pa, pb in zip(a.safe_paths, b.safe_paths, strict=True):
        assert pa.name == pb.name
        for key in ("tiff", "annotation", "calibration", "noise", "manifest"):
            assert files(pa)[key].read_bytes() == files(pb)[key].read_bytes()
    assert files(a.safe_paths[0])["tiff"].read_bytes() != files(c.safe_paths[0])["tiff"].read_bytes()


def test_orbit_files_and_map_overlay_beside_the_safes(stack):
    """What ISCE2's stackSentinel reads besides the SAFE: the orbit .EOF (its vectors are the
    annotation's orbitList) and preview/map-overlay.kml (its quad is the manifest's footprint)."""
    from cube.ingest._orbit import read_orbit_file

    eofs = sorted(stack.safe_paths[0].parent.glob("S1A_OPER_AUX_POEORB_OPOD_*.EOF"))
    assert len(eofs) == len(stack.safe_paths)
    for safe, eof in zip(stack.safe_paths, eofs, strict=True):
        start, stop = (dt.datetime.strptime(t, "%Y%m%dT%H%M%S") for t in safe.name.split("_")[5:7])
        v0, v1 = (dt.datetime.strptime(t.removeprefix("V"), "%Y%m%dT%H%M%S") for t in eof.stem.split("_")[6:8])
        assert v0 + dt.timedelta(seconds=60) <= start and stop <= v1 - dt.timedelta(seconds=60)
        ann = etree.parse(str(files(safe)["annotation"]))
        want = [[float(sv.findtext(f"position/{c}")) for c in "xyz"] for sv in ann.iterfind(".//orbitList/orbit")]
        orbit = read_orbit_file(str(eof))
        assert orbit.source.startswith("POEORB:")
        np.testing.assert_allclose([sv.position for sv in orbit.state_vectors], want, rtol=0, atol=1e-5)
        kml = etree.parse(str(safe / "preview" / "map-overlay.kml"))
        quad = [tuple(map(float, p.split(","))) for p in
                kml.findtext(".//{http://www.google.com/kml/ext/2.2}LatLonQuad/coordinates").split()]
        ns = {"gml": "http://www.opengis.net/gml"}
        footprint = [tuple(map(float, p.split(","))) for p in
                     etree.parse(str(files(safe)["manifest"])).findtext(".//gml:coordinates", namespaces=ns).split()]
        np.testing.assert_allclose([(lat, lon) for lon, lat in quad], footprint, atol=1e-6)
