"""The SAFE reader against ESA's own XML and against xarray-sentinel's reading of the same files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from lxml import etree

from cube.errors import InvalidSourceError, OrbitCoverageError
from cube.ingest import open_safe

SCENES = [
    "xarray-sentinel/tests/data/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE",
    "xarray-sentinel/tests/data/S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE",
    "sarsen/tests/data/S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE",
    "s1-reader/tests/data/S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.zip",
    "s1-reader/tests/data/S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip",
    "s1-reader/tests/data/S1A_IW_SLC__1SDV_20230108T135249_20230108T135316_046693_0598D3_BA76.zip",
    "hyp3-isce2/tests/data/packaging/slc/S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE",
    "hyp3-isce2/tests/data/packaging/slc/S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4.SAFE",
    "hyp3-isce2/tests/data/packaging/single_burst/S1B_IW_SLC__1SSV_20180628T151555_20180628T151555_011575_015476_33AD.SAFE",
    "hyp3-isce2/tests/data/packaging/single_burst/S1B_IW_SLC__1SSV_20190705T151602_20190705T151602_017000_01FFC4_26ED.SAFE",
    "SARProcessing.jl/test/testData/s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.xml",
]
AZORES_RESORB = "SARProcessing.jl/test/testData/S1A_OPER_AUX_RESORB_OPOD_20220918T093241_V20220918T053155_20220918T084925.EOF"


def _annotation_xml(scene: Path) -> list[etree._Element]:
    """Every product annotation of a scene, parsed straight from the files (zips included)."""
    import zipfile

    if scene.suffix == ".xml":
        return [etree.parse(str(scene)).getroot()]
    if scene.suffix == ".zip":
        with zipfile.ZipFile(scene) as z:
            names = [n for n in z.namelist() if "/annotation/s1" in n and n.endswith(".xml")]
            return [etree.fromstring(z.read(n)) for n in sorted(names)]
    return [etree.parse(str(p)).getroot() for p in sorted((scene / "annotation").glob("s1*.xml"))]


@pytest.mark.parametrize("rel", SCENES, ids=lambda r: r.split("/")[-1][:40])
def test_every_scene_parses_and_agrees_with_its_xml(rel):
    scene = shared_path(rel)
    bursts = open_safe(str(scene)).bursts()
    expected = []
    for root in _annotation_xml(scene):
        lines = int(root.findtext("swathTiming/linesPerBurst"))
        for b in root.findall("swathTiming/burstList/burst"):
            first = np.array(b.findtext("firstValidSample").split(), int)
            expected.append(
                (root.findtext("adsHeader/swath"), root.findtext("adsHeader/polarisation"),
                 b.findtext("azimuthTime"), lines, b.findtext("burstId"), int((first >= 0).sum()))
            )
    got = sorted(
        (b.swath, b.polarization, b.sensing_start.isoformat(timespec="microseconds"), b.lines,
         str(b.esa_burst_number) if b.annotated_burst_number else None,
         b.last_valid_line - b.first_valid_line + 1)
        for b in bursts
    )
    assert got == sorted(expected)
    for b in bursts:
        assert 0 <= b.first_valid_line < b.last_valid_line < b.lines
        assert 0 <= b.first_valid_sample < b.last_valid_sample < b.samples
        assert b.burst_id == f"t{b.relative_orbit:03d}_{b.esa_burst_number:06d}_{b.swath.lower()}"


def test_burst_ids_match_esa_annotation_everywhere():
    """IPF >= 3.40 writes ESA's burst ID in burstList: ours must equal it for every burst."""
    checked = 0
    for rel in SCENES:
        for b in open_safe(str(shared_path(rel))).bursts():
            if b.annotated_burst_number is not None:
                assert b.esa_burst_number == b.annotated_burst_number, b
                checked += 1
    assert checked > 100


def test_known_burst_id_of_the_nevada_zip():
    zip_path = shared_path(SCENES[3])
    ids = {b.burst_id for b in open_safe(str(zip_path)).bursts(["IW3"], ["VV"])}
    assert "t071_151200_iw3" in ids  # the OPERA/s1-reader example burst


@pytest.mark.parametrize("swath,pol", [("IW1", "VV"), ("IW1", "VH"), ("IW2", "VH")])
def test_agrees_with_xarray_sentinel(swath, pol):
    xarray_sentinel = pytest.importorskip("xarray_sentinel")
    scene = str(shared_path(SCENES[0]))
    bursts = open_safe(scene).bursts([swath], [pol])
    for index in (0, len(bursts) - 1):
        ours = bursts[index]
        ref = xarray_sentinel.open_sentinel1_dataset(scene, group=f"{swath}/{pol}/{index}")
        assert np.datetime64(ours.sensing_start, "ns") == ref.azimuth_time.values[0]
        assert ours.lines == ref.sizes["azimuth_time"]
        assert ours.samples == ref.sizes["slant_range_time"]
        assert ours.slant_range_time == pytest.approx(float(ref.slant_range_time[0]), abs=1e-15)
        assert ours.azimuth_time_interval == ref.attrs["azimuth_time_interval"]
        assert ours.range_sampling_rate == ref.attrs["range_sampling_rate"]
        assert ours.relative_orbit == ref.attrs["relative_orbit_number"]
        assert ours.absolute_orbit == ref.attrs["orbit_number"]
        assert ours.orbit_direction == ref.attrs["pass"].lower()
        assert np.rad2deg(ours.azimuth_steering_rate) == pytest.approx(ref.attrs["azimuth_steering_rate"])
        assert ours.azimuth_anx_time == pytest.approx(float(ref.attrs["azimuth_anx_time"]))
    orbit = xarray_sentinel.open_sentinel1_dataset(scene, group=f"{swath}/{pol}/orbit")
    t, pos, vel = bursts[0].orbit.arrays(bursts[0].sensing_start)
    np.testing.assert_allclose(pos, orbit.position.values.T, rtol=0, atol=1e-6)
    np.testing.assert_allclose(vel, orbit.velocity.values.T, rtol=0, atol=1e-9)
    cal = xarray_sentinel.open_sentinel1_dataset(scene, group=f"{swath}/{pol}/calibration")
    first = bursts[0].calibration[0]
    row = int(np.flatnonzero(cal.line.values == first.line)[0])
    np.testing.assert_allclose(first.sigma_nought, cal.sigmaNought.values[row])
    np.testing.assert_allclose(first.beta_nought, cal.betaNought.values[row])


def test_pixels_of_a_compressed_full_size_tiff_match_xarray_sentinel():
    xarray_sentinel = pytest.importorskip("xarray_sentinel")
    scene = str(shared_path(SCENES[0]))
    product = open_safe(scene)
    burst = product.bursts(["IW1"], ["VH"])[3]
    pixels = product.read_burst(burst)
    ref = xarray_sentinel.open_sentinel1_dataset(scene, group="IW1/VH/3").measurement.values
    assert pixels.dtype == np.int16 and pixels.shape == (burst.lines, burst.samples, 2)
    np.testing.assert_array_equal(pixels[..., 0], ref.real)
    np.testing.assert_array_equal(pixels[..., 1], ref.imag)


def test_real_pixel_crop_reads_through_the_strip_reader():
    """The one real SLC crop: read rows 100..149 of it and compare with tifffile's whole read."""
    import fsspec
    import tifffile

    from cube.ingest import read_tiff_lines

    path = shared_path("SARProcessing.jl/test/testData/s1a-iw3-slc-vv_subset_hight9800_10400_width11000_11000.tiff")
    block = read_tiff_lines(fsspec.filesystem("file"), str(path), 100, 50, 1401)
    whole = tifffile.imread(path)
    np.testing.assert_array_equal(block[..., 0] + 1j * block[..., 1], whole[100:150])
    assert np.abs(whole).std() > 10  # real speckle, not a placeholder


def test_orbit_file_replaces_the_annotation_orbit():
    xml = shared_path(SCENES[-1])
    annotated = open_safe(str(xml)).bursts()[6]
    with_eof = open_safe(str(xml), orbit_file=str(shared_path(AZORES_RESORB))).bursts()[6]
    assert with_eof.orbit.source.startswith("RESORB")
    assert annotated.orbit.source == "annotation"
    eof_times = {sv.time: sv for sv in with_eof.orbit.state_vectors}
    common = [sv for sv in annotated.orbit.state_vectors if sv.time in eof_times]
    # both come from orbit determination of the same pass: agree to metres where times coincide
    for sv in common:
        assert np.linalg.norm(np.subtract(sv.position, eof_times[sv.time].position)) < 5.0
    t, pos, _ = with_eof.orbit.arrays(with_eof.sensing_start)
    assert t[0] < 0 < (with_eof.lines * with_eof.azimuth_time_interval) < t[-1]


def test_orbit_file_that_does_not_cover_the_acquisition_is_refused():
    other = shared_path("s1-reader/tests/data/orbits/S1A_OPER_AUX_RESORB_OPOD_20230823T174849_V20230823T141024_20230823T172754.EOF")
    with pytest.raises(OrbitCoverageError, match="does not cover|not the acquisition"):
        open_safe(str(shared_path(SCENES[-1])), orbit_file=str(other)).bursts()


def test_not_a_safe_is_refused(tmp_path):
    with pytest.raises(InvalidSourceError, match="not a Sentinel-1 SAFE"):
        open_safe(str(tmp_path))
