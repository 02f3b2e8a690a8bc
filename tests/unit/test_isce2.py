"""The ISCE2 engine without ISCE2: its image format, topsStack's output layout → CSLC, the driver.

Independent references: GDAL (rasterio) reads the .vrt files we write; an ISCE2 header laid
out as ISCE2 2.x writes it; the native engine's CSLC of the same cube (for the reference date
topsStack's coregistered burst *is* the reference burst); a secondary resampled into the
reference geometry by a slow numpy path written here (ISCE2's resamp_slc conventions:
deramp with the secondary's own carrier, sinc, reramp at the secondary position, flatten by
4π/λ·(R_sec − R_ref)). ISCE2 itself runs in tests/integration/test_isce2_engine.py.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from cube.errors import InputError, InvalidSourceError, NotFoundError
from cube.format import SPEED_OF_LIGHT
from cube.isce2 import (
    NO_ISCE2,
    SITE_DIR,
    TopsStackError,
    TopsStackTask,
    burst_file,
    convert_topsstack,
    execute_run_files,
    isce2_cslc,
    open_isce_image,
    read_isce_image,
    read_isce_window,
    read_topsstack_bursts,
    topsstack_command,
    topsstack_environment,
    topsstack_task,
    write_isce_dem,
    write_isce_image,
)


def _gdal_read(vrt: Path) -> np.ndarray:
    """All bands of a file through GDAL (rasterio), (bands, rows, cols)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(vrt) as ds:
            return ds.read()


# ---------------------------------------------------------------------------------------------
# ISCE2 image format
# ---------------------------------------------------------------------------------------------

# A burst SLC header laid out as ISCE2 2.6 writes it (isceobj.Image.renderHdr through
# XmlDumper: keys lower case and sorted, ISCE_VERSION first, <value> and <doc> per property).
ISCE2_SLC_XML = """<imageFile>
    <property name="ISCE_VERSION">
        <value>Release: 2.6.3, svn-, 20230418. Current: svn-.</value>
    </property>
    <property name="access_mode">
        <value>read</value>
        <doc>Image access mode.</doc>
    </property>
    <property name="byte_order">
        <value>l</value>
        <doc>Endianness of the image.</doc>
    </property>
    <component name="coordinate1">
        <factorymodule>isceobj.Image</factorymodule>
        <factoryname>createCoordinate</factoryname>
        <doc>First coordinate of a 2D image (width).</doc>
        <property name="delta">
            <value>1</value>
            <doc>Coordinate quantization.</doc>
        </property>
        <property name="endingvalue">
            <value>7</value>
            <doc>Ending value of the coordinate.</doc>
        </property>
        <property name="family">
            <value>imagecoordinate</value>
            <doc>Instance family name</doc>
        </property>
        <property name="name">
            <value>imagecoordinate_name</value>
            <doc>Instance name</doc>
        </property>
        <property name="size">
            <value>7</value>
            <doc>Coordinate size.</doc>
        </property>
        <property name="startingvalue">
            <value>0</value>
            <doc>Starting value of the coordinate.</doc>
        </property>
    </component>
    <component name="coordinate2">
        <factorymodule>isceobj.Image</factorymodule>
        <factoryname>createCoordinate</factoryname>
        <doc>Second coordinate of a 2D image (length).</doc>
        <property name="delta">
            <value>1</value>
            <doc>Coordinate quantization.</doc>
        </property>
        <property name="endingvalue">
            <value>5</value>
            <doc>Ending value of the coordinate.</doc>
        </property>
        <property name="family">
            <value>imagecoordinate</value>
            <doc>Instance family name</doc>
        </property>
        <property name="name">
            <value>imagecoordinate_name</value>
            <doc>Instance name</doc>
        </property>
        <property name="size">
            <value>5</value>
            <doc>Coordinate size.</doc>
        </property>
        <property name="startingvalue">
            <value>0</value>
            <doc>Starting value of the coordinate.</doc>
        </property>
    </component>
    <property name="data_type">
        <value>CFLOAT</value>
        <doc>Image data type.</doc>
    </property>
    <property name="extra_file_name">
        <value>/home/someone/stack/coreg_secondarys/20240118/IW2/burst_02.slc.vrt</value>
        <doc>For example name of vrt metadata.</doc>
    </property>
    <property name="family">
        <value>slcimage</value>
        <doc>Instance family name</doc>
    </property>
    <property name="file_name">
        <value>/home/someone/stack/coreg_secondarys/20240118/IW2/burst_02.slc</value>
        <doc>Name of the image file.</doc>
    </property>
    <property name="image_type">
        <value>slc</value>
        <doc>Image type used for displaying.</doc>
    </property>
    <property name="length">
        <value>5</value>
        <doc>Image length</doc>
    </property>
    <property name="name">
        <value>slcimage_name</value>
        <doc>Instance name</doc>
    </property>
    <property name="number_bands">
        <value>1</value>
        <doc>Number of image bands.</doc>
    </property>
    <property name="scheme">
        <value>BIP</value>
        <doc>Interleaving scheme of the image.</doc>
    </property>
    <property name="width">
        <value>7</value>
        <doc>Image width</doc>
    </property>
    <property name="xmax">
        <value>7</value>
        <doc>Maximum range value</doc>
    </property>
    <property name="xmin">
        <value>0</value>
        <doc>Minimum range value</doc>
    </property>
</imageFile>
"""

# An ISCE 2.0-era header (upper-case names, as in ISCE2's own test data), 2 bands BIL, big-endian.
ISCE20_UNW_XML = """<imageFile>
    <property name="SCHEME"><value>BIL</value></property>
    <property name="LENGTH"><value>4</value></property>
    <property name="ACCESS_MODE"><value>write</value></property>
    <property name="FILE_NAME"><value>filt.unw</value></property>
    <property name="BYTE_ORDER"><value>b</value></property>
    <property name="DATA_TYPE"><value>FLOAT</value></property>
    <property name="WIDTH"><value>6</value></property>
    <property name="NUMBER_BANDS"><value>2</value></property>
</imageFile>
"""


def test_reads_a_header_laid_out_as_isce2_writes_it(tmp_path):
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(5, 7)) + 1j * rng.normal(size=(5, 7))).astype("<c8")
    path = tmp_path / "burst_02.slc"
    data.tofile(path)
    (tmp_path / "burst_02.slc.xml").write_text(ISCE2_SLC_XML)
    info = open_isce_image(path)
    assert (info.width, info.length, info.bands, info.data_type, info.scheme, info.byte_order,
            info.image_type) == (7, 5, 1, "CFLOAT", "BIP", "l", "slc")
    arr = read_isce_image(tmp_path / "burst_02.slc.xml")  # the header's path works too
    assert isinstance(arr, np.memmap) and arr.shape == (5, 7)
    np.testing.assert_array_equal(arr, data)
    np.testing.assert_array_equal(read_isce_window(path, 1, 4, 2, 6), data[1:4, 2:6])


def test_reads_an_old_upper_case_header_two_bands_bil_big_endian(tmp_path):
    amp = np.arange(24, dtype=np.float32).reshape(4, 6)
    phase = -amp / 10
    # BIL: line 0 band 0, line 0 band 1, line 1 band 0, ...
    np.stack([amp, phase], axis=1).astype(">f4").tofile(tmp_path / "filt.unw")
    (tmp_path / "filt.unw.xml").write_text(ISCE20_UNW_XML)
    arr = read_isce_image(tmp_path / "filt.unw")
    assert arr.shape == (2, 4, 6)
    np.testing.assert_array_equal(arr[0], amp)
    np.testing.assert_array_equal(arr[1], phase)
    w = read_isce_window(tmp_path / "filt.unw", 1, 3, 0, 6, band=1)
    assert w.dtype == np.float32 and w.dtype.byteorder in "=<"
    np.testing.assert_array_equal(w, phase[1:3])


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "float32", "float64", "complex64",
                                   "complex128"])
@pytest.mark.parametrize("scheme", ["BIP", "BIL", "BSQ"])
def test_write_read_round_trip_and_gdal_reads_the_vrt(tmp_path, dtype, scheme):
    rng = np.random.default_rng(3)
    shape = (3, 4, 5)  # bands, length, width
    arr = (rng.normal(size=shape) * 50).astype(dtype)
    if arr.dtype.kind == "c":
        arr = arr + 1j * (rng.normal(size=shape) * 50).astype(dtype)
    order = "b" if dtype in ("int32", "float64") else "l"
    info = write_isce_image(tmp_path / "img.bin", arr, scheme=scheme, byte_order=order)
    assert info.path.stat().st_size == arr.nbytes
    np.testing.assert_array_equal(read_isce_image(info.path), arr)
    np.testing.assert_array_equal(read_isce_window(info.path, 1, 3, 2, 5, band=2), arr[2, 1:3, 2:5])
    # the header: what ISCE2 looks up, in ISCE2's layout
    root = ET.parse(info.xml_path).getroot()
    props = {p.get("name"): p.find("value").text for p in root.findall("property")}
    assert props["width"] == "5" and props["length"] == "4" and props["number_bands"] == "3"
    assert props["scheme"] == scheme and props["byte_order"] == order and props["file_name"] == str((tmp_path / "img.bin").absolute())
    names = [e.get("name") for e in root]
    assert names == sorted(names) and names[0] == "ISCE_VERSION"
    sizes = {c.get("name"): c.find("property[@name='size']/value").text for c in root.findall("component")}
    assert sizes == {"coordinate1": "5", "coordinate2": "4"}
    # GDAL reads the same pixels through the .vrt (an independent reader of layout and byte order)
    gdal = _gdal_read(info.vrt_path)
    expected = arr.view(np.uint8) if dtype == "int8" else arr  # ISCE2 calls BYTE GDAL's (unsigned) Byte
    np.testing.assert_array_equal(gdal, expected)


def test_single_band_complex_is_an_slc_image(tmp_path):
    info = write_isce_image(tmp_path / "burst_01.slc", np.ones((2, 3), np.complex64))
    assert info.image_type == "slc" and info.bands == 1
    assert read_isce_image(info.path).shape == (2, 3)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "burst_01.slc"
    np.zeros((5, 7), np.complex64).tofile(path)
    with pytest.raises(InvalidSourceError, match=r"burst_01\.slc\.xml.*needs its \.xml"):
        read_isce_image(path)
    (tmp_path / "burst_01.slc.xml").write_text(ISCE2_SLC_XML.replace("<value>5</value>", "<value>6</value>"))
    with pytest.raises(InvalidSourceError, match=r"burst_01\.slc: 280 bytes.*6 lines × 7 samples.*= 336"):
        read_isce_image(path)
    (tmp_path / "burst_01.slc.xml").write_text(ISCE2_SLC_XML.replace("CFLOAT", "CIQBYTE"))
    with pytest.raises(InvalidSourceError, match=r"burst_01\.slc\.xml: data type 'CIQBYTE' is not supported"):
        read_isce_image(path)
    (tmp_path / "burst_01.slc.xml").write_text("<imageFile><property name='width'>")
    with pytest.raises(InvalidSourceError, match=r"burst_01\.slc\.xml: not an ISCE2 image header"):
        open_isce_image(path)
    (tmp_path / "burst_01.slc.xml").write_text(ISCE2_SLC_XML)
    path.unlink()
    with pytest.raises(InvalidSourceError, match="neither the image nor its .vrt"):
        read_isce_image(path)
    with pytest.raises(InputError, match=r"bool has no ISCE2 data type"):
        write_isce_image(tmp_path / "mask.bin", np.zeros((2, 2), bool))
    with pytest.raises(InputError, match=r"\(length, width\) or \(bands, length, width\)"):
        write_isce_image(tmp_path / "line.bin", np.zeros(4, np.float32))


def test_dem_for_isce2_keeps_the_georeferencing(tmp_path):
    from cube.geometry import Dem

    heights = np.arange(12, dtype=np.float32).reshape(3, 4)
    heights[0, 0] = np.nan
    dem = Dem(heights, (-127.8, 0.001, 0.0, 51.4, 0.0, -0.0005))
    info = write_isce_dem(tmp_path / "dem.wgs84", dem)
    root = ET.parse(info.xml_path).getroot()
    props = {p.get("name"): p.find("value").text for p in root.findall("property")}
    assert props["reference"] == "WGS84" and props["image_type"] == "dem" and props["data_type"] == "FLOAT"
    c1 = root.find("component[@name='coordinate1']")
    # ISCE2's startingvalue is the first pixel's centre (topo indexes (lat - first) / delta + 1)
    assert float(c1.find("property[@name='startingvalue']/value").text) == pytest.approx(-127.7995)
    import rasterio

    with rasterio.open(info.vrt_path) as ds:
        assert ds.transform.to_gdal() == pytest.approx(dem.transform)
        np.testing.assert_array_equal(ds.read(1), np.nan_to_num(heights, nan=0.0))


# ---------------------------------------------------------------------------------------------
# topsStack's swath products
# ---------------------------------------------------------------------------------------------

def _burst_component(k: int, number: int, start, lines: int, samples: int,
                     valid: tuple[int, int, int, int], pad: str = "            ") -> str:
    """One BurstSLC as ProductManager dumps it: instance/bursts/burst<k>, public names normalised."""
    fl, nl, fs, ns = valid
    props = {"burstnumber": number, "sensingstart": start.isoformat(sep=" "),
             "burststartutc": start.isoformat(sep=" "), "numberoflines": lines, "numberofsamples": samples,
             "firstvalidline": fl, "numberofvalidlines": nl, "firstvalidsample": fs,
             "numberofvalidsamples": ns, "swathnumber": 2, "polarization": "VV"}
    body = "".join(f'{pad}    <property name="{k_}">\n{pad}        <value>{v}</value>\n{pad}    </property>\n'
                   for k_, v in props.items())
    return f'{pad}<component name="burst{k}">\n{body}{pad}</component>\n'


def _swath_product(bursts: list[str], extra: str = "") -> str:
    return ("<productmanager_name>\n    <component name=\"instance\">\n"
            "        <property name=\"numberofbursts\">\n"
            f"            <value>{len(bursts)}</value>\n        </property>\n"
            "        <component name=\"bursts\">\n" + "".join(bursts) + "        </component>\n"
            + extra + "    </component>\n</productmanager_name>\n")


def _write_products(work: Path, ref, swath: int = 2, number: int = 2,
                    secondaries: dict[str, tuple[int, int, int, int]] | None = None) -> None:
    """reference/IW<n>.xml with the neighbour burst first (topsStack's crop kept it), and coreg products."""
    dt = timedelta(seconds=ref.azimuth_time_interval * 130)
    valid = (ref.first_valid_line, ref.last_valid_line - ref.first_valid_line + 1, ref.first_valid_sample,
             ref.last_valid_sample - ref.first_valid_sample + 1)
    bursts = [_burst_component(1, number - 1, ref.sensing_start - dt, ref.lines, ref.samples, valid),
              _burst_component(2, number, ref.sensing_start, ref.lines, ref.samples, valid)]
    (work / "reference").mkdir(parents=True, exist_ok=True)
    (work / "reference" / f"IW{swath}.xml").write_text(_swath_product(bursts))
    for day, v in (secondaries or {}).items():
        folder = work / "coreg_secondarys" / day
        folder.mkdir(parents=True, exist_ok=True)
        own = [_burst_component(1, number, ref.sensing_start, ref.lines, ref.samples, v)]
        # the stack reference and the secondary before resampling: not this product's bursts
        extra = ('        <component name="reference">\n' + _swath_product(bursts) + "        </component>\n"
                 '        <component name="source">\n'
                 + _swath_product([_burst_component(1, 7, ref.sensing_start, ref.lines, ref.samples, valid)])
                 + "        </component>\n")
        (folder / f"IW{swath}.xml").write_text(_swath_product(own, extra))


def test_reads_bursts_of_a_swath_product_skipping_reference_and_source(tmp_path, stack):
    ref = stack.burst(stack.dates[0])
    _write_products(tmp_path, ref, secondaries={"20240118": (5, 140, 20, 430)})
    ref_bursts = read_topsstack_bursts(tmp_path / "reference" / "IW2.xml")
    assert [b.number for b in ref_bursts] == [1, 2]
    b = ref_bursts[1]
    assert b.sensing_start == ref.sensing_start and (b.lines, b.samples) == (ref.lines, ref.samples)
    assert (b.first_valid_line, b.last_valid_line) == (ref.first_valid_line, ref.last_valid_line)
    coreg = read_topsstack_bursts(tmp_path / "coreg_secondarys" / "20240118" / "IW2.xml")
    assert len(coreg) == 1
    assert (coreg[0].first_valid_line, coreg[0].last_valid_line, coreg[0].first_valid_sample,
            coreg[0].last_valid_sample) == (5, 144, 20, 449)
    with pytest.raises(NotFoundError, match="did topsStack run"):
        read_topsstack_bursts(tmp_path / "reference" / "IW3.xml")


# ---------------------------------------------------------------------------------------------
# Conversion against the native engine
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cube(tiny_cube):
    return tiny_cube


@pytest.fixture(scope="module")
def stack(cube):
    from cube.products import BurstStack
    from cube.storage import list_burst_groups

    burst_id, pol = list_burst_groups(cube)[0]
    return BurstStack(cube, burst_id, pol)


def _float32_close(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| / max |b| over pixels finite in both; NaN masks must agree."""
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    ok = np.isfinite(a)
    assert ok.mean() > 0.2
    return float(np.max(np.abs(a[ok] - b[ok])) / np.max(np.abs(b[ok])))


def test_reference_date_equals_the_native_cslc(tmp_path, stack):
    """For the reference date topsStack's burst is the reference burst itself: same CSLC."""
    ref = stack.burst(stack.dates[0])
    _write_products(tmp_path, ref)
    slc = stack.read_slc(ref.date_key, 0, ref.lines, 0, ref.samples)
    write_isce_image(burst_file(tmp_path, 2, 2), slc)
    native = stack.cslc(ref.date_key)
    [(key, converted)] = list(convert_topsstack(tmp_path, ref, [ref.date_key], stack.grid, stack.dem))
    assert key == ref.date_key
    err = _float32_close(converted.data, native.data)
    assert err <= 1e-6, f"reference date differs from the native CSLC by {err:.2e} of the peak"
    np.testing.assert_array_equal(converted.line, native.line)


def test_virtual_reference_burst_reads_the_safe_tiff(tmp_path, stack, tiny_stack):
    """topsStack leaves the reference burst virtual: a .vrt into the SAFE's measurement TIFF."""
    ref = stack.burst(stack.dates[0])
    _write_products(tmp_path, ref)
    safe = next(p for p in tiny_stack.safe_paths if ref.product_id in p.name)
    tiff = safe / ref.measurement_file
    target = burst_file(tmp_path, 2, 2)
    target.parent.mkdir(parents=True, exist_ok=True)
    # the header of a virtual SLC and a VRT laid out as Sentinel1.extractImage(virtual=True) makes it
    header = write_isce_image(target, np.zeros((ref.lines, ref.samples), np.complex64))
    header.path.unlink()
    fl, fs = ref.first_valid_line, ref.first_valid_sample
    nl, ns = ref.last_valid_line - fl + 1, ref.last_valid_sample - fs + 1
    import rasterio

    with rasterio.open(tiff) as ds:
        full_w, full_h = ds.width, ds.height
    rel = os.path.relpath(tiff, target.parent)  # as ISCE2 writes it, relative to the .vrt
    header.vrt_path.write_text(f"""<VRTDataset rasterXSize="{ref.samples}" rasterYSize="{ref.lines}">
    <VRTRasterBand dataType="CFloat32" band="1">
        <NoDataValue>0.0</NoDataValue>
        <SimpleSource>
            <SourceFilename relativeToVRT="1">{rel}</SourceFilename>
            <SourceBand>1</SourceBand>
            <SourceProperties RasterXSize="{full_w}" RasterYSize="{full_h}" DataType="CInt16"/>
            <SrcRect xOff="{fs}" yOff="{ref.line_offset + fl}" xSize="{ns}" ySize="{nl}"/>
            <DstRect xOff="{fs}" yOff="{fl}" xSize="{ns}" ySize="{nl}"/>
        </SimpleSource>
    </VRTRasterBand>
</VRTDataset>""")
    assert not target.exists()
    window = (slice(40, 200), slice(100, 420))
    native = stack.cslc(ref.date_key, window)
    converted = isce2_cslc(ref, target, stack.grid, window, stack.dem)
    err = _float32_close(converted.data, native.data)
    assert err <= 1e-6, f"virtual reference burst differs by {err:.2e} of the peak"


def _carrier(burst, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """TOPS azimuth carrier + Doppler phase ψ (rad) at burst (line, sample): SLC ≈ baseband·exp(+jψ).

    Written from ESA's deramping note and ISCE2's computeAzimuthCarrier (numpy, for this test):
    k_s = 2|V|k_ψ/λ, k_t = k_s/(1 − k_s/k_a), η_ref = f_dc(τ0)/k_a(τ0) − f_dc(τ)/k_a(τ),
    ψ = π k_t (η − η_ref)² + 2π f_dc (η − η_ref), η from the burst centre.
    """
    from cube.geometry import burst_orbit

    half = burst.lines // 2
    centre = burst.sensing_start + timedelta(seconds=half * burst.azimuth_time_interval)
    dc = min(burst.doppler_centroid, key=lambda p: abs((p.azimuth_time - centre).total_seconds()))
    fm = min(burst.azimuth_fm_rate, key=lambda p: abs((p.azimuth_time - centre).total_seconds()))
    _, vel, _ = burst_orbit(burst).interpolate(np.array([half * burst.azimuth_time_interval]))
    ks = 2 * np.linalg.norm(vel[0]) * burst.azimuth_steering_rate / burst.wavelength_m
    tau0 = burst.slant_range_time
    tau = tau0 + sample / burst.range_sampling_rate
    ka, fdc = fm(tau), dc(tau)
    kt = ks / (1 - ks / ka)
    eta_ref = dc(tau0) / fm(tau0) - fdc / ka
    eta = (line - half) * burst.azimuth_time_interval
    return np.pi * kt * (eta - eta_ref) ** 2 + 2 * np.pi * fdc * (eta - eta_ref)


def _sinc_interpolate(img: np.ndarray, y: np.ndarray, x: np.ndarray, half: int = 8) -> np.ndarray:
    """Windowed-sinc (2·half taps, Hann) interpolation of img at (y, x); 0 where the kernel leaves img."""
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    y0 = y0.astype(int)
    x0 = x0.astype(int)
    taps = np.arange(-half + 1, half + 1)

    def weights(frac):
        d = frac[..., None] - taps
        w = np.sinc(d) * (0.5 + 0.5 * np.cos(np.pi * d / (half + 1)))
        return w / w.sum(axis=-1, keepdims=True)

    wy, wx = weights(fy), weights(fx)
    inside = (y0 - half + 1 >= 0) & (y0 + half < img.shape[0]) & (x0 - half + 1 >= 0) & (x0 + half < img.shape[1])
    yc, xc = np.where(inside, y0, half), np.where(inside, x0, half)
    out = np.zeros(y.shape, np.complex128)
    for i, dy in enumerate(taps):
        row = np.zeros(y.shape, np.complex128)
        for j, dx in enumerate(taps):
            row += wx[..., j] * img[yc + dy, xc + dx]
        out += wy[..., i] * row
    return np.where(inside, out, 0)


def _resample_like_topsstack(stack, ref, sec) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The secondary burst in the reference geometry, as topsStack's geo2rdr + resamp_slc make it."""
    from cube.geometry import burst_orbit, geo2rdr, rdr2geo

    lines, samples = np.mgrid[0:ref.lines, 0:ref.samples].astype(float)
    rng_ref = (ref.slant_range_time + samples / ref.range_sampling_rate) * SPEED_OF_LIGHT / 2
    orbit_ref, orbit_sec = burst_orbit(ref), burst_orbit(sec)
    h = np.zeros_like(lines)
    for _ in range(100):  # topo: the DEM point seen by each reference pixel (fixed point on h)
        lat, lon, _ = rdr2geo(orbit_ref, lines * ref.azimuth_time_interval, rng_ref, h)
        h, before = stack.dem.sample_lonlat(lon, lat), h
        if np.max(np.abs(h - before)) < 1e-3:
            break
    else:
        raise AssertionError("topo did not converge")
    t_sec, rng_sec = geo2rdr(orbit_sec, lat, lon, h, t_guess=0.5 * sec.lines * sec.azimuth_time_interval)
    line_sec = t_sec / sec.azimuth_time_interval
    sample_sec = (2 * rng_sec / SPEED_OF_LIGHT - sec.slant_range_time) * sec.range_sampling_rate
    raw = stack.read_slc(sec.date_key, 0, sec.lines, 0, sec.samples).astype(np.complex128)
    grid_l, grid_s = np.mgrid[0:sec.lines, 0:sec.samples].astype(float)
    base = raw * np.exp(-1j * _carrier(sec, grid_l, grid_s))
    values = _sinc_interpolate(base, line_sec, sample_sec)
    values *= np.exp(1j * _carrier(sec, line_sec, sample_sec))  # reramp at the secondary position
    values *= np.exp(1j * 4 * np.pi / ref.wavelength_m * (rng_sec - rng_ref))  # resamp_slc's flattening
    inside = ((line_sec >= sec.first_valid_line) & (line_sec <= sec.last_valid_line)
              & (sample_sec >= sec.first_valid_sample) & (sample_sec <= sec.last_valid_sample))
    values[~inside] = 0
    mid_l, mid_s = ref.lines // 2, ref.samples // 2
    rows, cols = np.flatnonzero(inside[:, mid_s]), np.flatnonzero(inside[mid_l])
    valid = (int(rows[0]) + 1, int(rows[-1]) - 1, int(cols[0]) + 1, int(cols[-1]) - 1)
    return values.astype(np.complex64), valid


def test_secondary_date_agrees_with_the_native_cslc(tmp_path, stack):
    """A secondary resampled into the reference geometry (slow numpy, ISCE2's conventions), then
    converted, against the native engine's CSLC of that date (one 8-tap interpolation, not two)."""
    ref, sec = stack.burst(stack.dates[0]), stack.burst(stack.dates[1])
    coreg, valid = _resample_like_topsstack(stack, ref, sec)
    fl, ll, fs, ls = valid
    day = sec.date_key[:8]
    _write_products(tmp_path, ref, secondaries={day: (fl, ll - fl + 1, fs, ls - fs + 1)})
    write_isce_image(burst_file(tmp_path, 2, 2, day), coreg)
    [(key, converted)] = list(convert_topsstack(tmp_path, ref, [sec.date_key], stack.grid, stack.dem))
    assert key == sec.date_key
    native = stack.cslc(sec.date_key)
    a, b = converted.data, native.data
    # away from the valid edges (where one path pads with zeros and the other does not)
    m = 8
    interior = ((converted.line >= fl + m) & (converted.line <= ll - m)
                & (converted.sample >= fs + m) & (converted.sample <= ls - m))
    ok = interior & np.isfinite(a) & np.isfinite(b)
    assert ok.sum() > 0.25 * ok.size  # the burst's valid data fill ~30 % of its grid's box
    a, b = a[ok].astype(np.complex128), b[ok].astype(np.complex128)
    cross = np.sum(a * np.conj(b))
    gamma = abs(cross) / math.sqrt(np.sum(abs(a) ** 2) * np.sum(abs(b) ** 2))
    bias = abs(np.angle(cross))
    rel = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    print(f"secondary: coherence {gamma:.5f}, phase bias {bias:.2e} rad, relative RMS {rel:.3f}, "
          f"{ok.sum()} pixels")
    assert gamma >= 0.995, f"coherence with the native CSLC {gamma:.4f}"
    assert bias <= 0.01, f"phase bias {bias:.4f} rad"
    assert rel <= 0.1, f"relative RMS difference {rel:.3f}"


def test_missing_pieces_are_named(tmp_path, stack):
    ref = stack.burst(stack.dates[0])
    with pytest.raises(NotFoundError, match=r"reference/IW2\.xml"):
        list(convert_topsstack(tmp_path, ref, [ref.date_key], stack.grid, stack.dem))
    _write_products(tmp_path, ref)
    other = stack.burst(stack.dates[1])
    with pytest.raises(NotFoundError, match=r"coreg_secondarys: no coregistered date 20240118"):
        list(convert_topsstack(tmp_path, ref, [other.date_key], stack.grid, stack.dem))
    shifted = ref.model_copy(update={"sensing_start": ref.sensing_start + timedelta(seconds=1)})
    with pytest.raises(NotFoundError, match="no burst starts at"):
        list(convert_topsstack(tmp_path, shifted, [shifted.date_key], stack.grid, stack.dem))
    write_isce_image(burst_file(tmp_path, 2, 2), np.zeros((10, 10), np.complex64))
    with pytest.raises(InvalidSourceError, match="smaller than the reference burst"):
        list(convert_topsstack(tmp_path, ref, [ref.date_key], stack.grid, stack.dem))


def test_chunks_go_to_the_writer_and_equal_the_whole(tmp_path, stack):
    ref = stack.burst(stack.dates[0])
    _write_products(tmp_path, ref)
    write_isce_image(burst_file(tmp_path, 2, 2), stack.read_slc(ref.date_key, 0, ref.lines, 0, ref.samples))
    whole = stack.cslc(ref.date_key).data
    windows = [(slice(0, 128), slice(0, 256)), (slice(128, 297), slice(256, 648))]
    got = []
    results = list(convert_topsstack(tmp_path, ref, [ref.date_key], stack.grid, stack.dem,
                                     write=lambda k, w, c: got.append((k, w)), windows=windows))
    assert got == [(ref.date_key, w) for w in windows]
    for w, (_, c) in zip(windows, results, strict=True):
        np.testing.assert_allclose(c.data, whole[w], rtol=0, atol=1e-3 * np.nanmax(np.abs(whole)))


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def _task(**kw) -> TopsStackTask:
    base = dict(burst_id="t108_230132_iw2", safe_paths=["/data/a.SAFE", "/data/b.zip"], orbit_dir="/orbits",
                aux_dir="/aux", dem="/dem/dem.wgs84", reference_date="20240106",
                bbox=(51.1, 51.12, -127.6, -127.58))
    base.update(kw)
    return TopsStackTask(**base)


def test_topsstack_command():
    assert topsstack_command(_task(), "/work/t108") == [
        "stackSentinel.py",
        "-s", "/work/t108/sarcube_safe_list.txt",
        "-o", "/orbits",
        "-a", "/aux",
        "-d", "/dem/dem.wgs84",
        "-w", "/work/t108",
        "-p", "vv",
        "-W", "slc",
        "-n", "2",
        "-b", "51.100000 51.120000 -127.600000 -127.580000",
        "-C", "geometry",
        "-m", "20240106",
        "--num_proc", "1", "--num_proc4topo", "1",
    ]
    cmd = topsstack_command(_task(coregistration="NESD", polarization="VH", reference_date=None, num_proc=4,
                                  burst_id="t071_151200_iw3"), "w")
    assert cmd[cmd.index("-C") + 1] == "NESD" and cmd[cmd.index("-p") + 1] == "vh"
    assert cmd[cmd.index("-n") + 1] == "3" and "-m" not in cmd and cmd[-1] == "4"
    with pytest.raises(ValueError):
        _task(safe_paths=["/data/a.SAFE"])  # topsStack needs two dates at least
    with pytest.raises(ValueError):
        _task(coregistration="ESD")


def test_task_box_around_the_burst(stack, tmp_path):
    from cube.geometry import burst_footprint

    ref = stack.burst(stack.dates[0])
    lon, lat = burst_footprint(ref)
    geo = topsstack_task(ref, ["a.SAFE", "b.SAFE"], "orbits", "dem.wgs84", aux_dir="aux")
    s, n, w, e = geo.bbox
    assert s < lat.mean() < n and w < lon.mean() < e and n - s == pytest.approx(0.02)
    assert geo.reference_date == "20240106" and geo.swath == 2 and geo.burst_id == ref.burst_id
    assert Path(geo.dem).is_absolute() and Path(geo.safe_paths[0]).is_absolute()
    nesd = topsstack_task(ref, ["a.SAFE", "b.SAFE"], "orbits", "dem.wgs84", aux_dir="aux", coregistration="NESD")
    # the valid footprint: meets the neighbours' boxes, stays inside every SAFE holding the burst
    assert nesd.bbox == pytest.approx((lat.min(), lat.max(), lon.min(), lon.max()))


def test_environment_finds_the_conda_stack_processors():
    env = topsstack_environment({"PATH": "/usr/bin", "ISCE_HOME": "/opt/conda/lib/python3.11/site-packages/isce"},
                                prefix="/opt/conda")
    assert env["PATH"].split(":")[:2] == ["/opt/conda/share/isce2/topsStack",
                                          "/opt/conda/lib/python3.11/site-packages/isce/applications"]
    assert env["PYTHONPATH"].split(":") == [str(SITE_DIR), "/opt/conda/share/isce2"]
    assert env["PATH"].endswith("/usr/bin")


def test_isce2_processes_print_numpy_the_legacy_way():
    """ISCE2 writes repr() of numbers into its state files; numpy 2's ``np.int64(0)`` breaks a resume."""
    import subprocess

    env = topsstack_environment({"PATH": os.environ["PATH"]}, prefix="/nonexistent")
    code = "import numpy as np; print(repr(np.int64(3)), repr(np.float64(0.5)))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3", "0.5"]


def _run_file(work: Path, name: str, lines: list[str]) -> None:
    (work / "run_files").mkdir(parents=True, exist_ok=True)
    (work / "run_files" / name).write_text("\n".join(lines) + "\n")


def test_run_files_run_in_numbered_order_and_a_failure_names_its_step(tmp_path):
    py = sys.executable
    out = tmp_path / "order.txt"
    append = f"{py} -c \"open('{out}', 'a').write('{{}}\\n')\""
    _run_file(tmp_path, "run_01_unpack_topo_reference", [append.format("01")])
    _run_file(tmp_path, "run_02_merge_reference_secondary_slc", [f"{py} -c 'import sys; sys.exit(9)'"])
    _run_file(tmp_path, "run_10_extract_stack_valid_region", [append.format("10a") + " &", append.format("10b"),
                                                               "wait", ""])
    _run_file(tmp_path, "run_09_fullBurst_resample", [append.format("09")])
    seen = []
    done = execute_run_files(tmp_path, emit=seen.append, check=lambda step: seen.append(f"checked {step}"))
    assert done == ["unpack_topo_reference", "fullBurst_resample", "extract_stack_valid_region"]
    assert out.read_text().split() == ["01", "09", "10a", "10b"]
    assert "topsStack: skipping run_02_merge_reference_secondary_slc" in seen
    assert (tmp_path / "logs" / "run_10_extract_stack_valid_region.log").is_file()

    _run_file(tmp_path, "run_11_broken", [f"{py} -c \"print('resampling...'); import sys; sys.exit(3)\""])
    with pytest.raises(TopsStackError, match=r"(?s)step run_11_broken failed \(exit 3\).*logs/run_11_broken\.log"
                                             r".*resampling\.\.\."):
        execute_run_files(tmp_path, emit=lambda line: None)


def test_without_isce2_the_engine_says_what_to_use(tmp_path):
    """Where ``isce`` cannot be imported (here: its folders taken off the path of a fresh process)."""
    import subprocess

    code = (
        "import sys; sys.path = [p for p in sys.path if '/isce2/' not in p]\n"
        "from cube.errors import InputError\n"
        "from cube.isce2 import TopsStackTask, run_topsstack\n"
        f"task = TopsStackTask.model_validate_json({_task().model_dump_json()!r})\n"
        "try:\n    run_topsstack(task, sys.argv[1])\n"
        "except InputError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == NO_ISCE2
    assert "make isce2" in NO_ISCE2 and "containers/worker" in NO_ISCE2 and "engine='native'" in NO_ISCE2


# ---------------------------------------------------------------------------------------------
# The engine option, the job's inputs
# ---------------------------------------------------------------------------------------------

def test_the_native_cslc_keeps_its_variant_key():
    """``engine`` and ``esd`` at their defaults leave the key as it was before they existed."""
    import hashlib
    import json

    from cube.products import CslcOptions, Variant

    before = hashlib.sha256(json.dumps({"taps": 8, "flatten": True, "bistatic": True}, sort_keys=True)
                            .encode()).hexdigest()[:12]
    assert Variant.of("cslc").key == f"cslc/v1-{before}"
    isce2 = Variant.of("cslc", {"engine": "isce2"})
    assert isce2.key != Variant.of("cslc").key != Variant.of("cslc", {"engine": "isce2", "esd": True}).key
    assert isce2.options.segment() == "engine=isce2"
    with pytest.raises(ValueError, match="esd=true needs engine=isce2"):
        CslcOptions(esd=True)


def test_the_native_engine_refuses_an_isce2_window(stack):
    from cube.products import CslcOptions

    with pytest.raises(InputError, match="whole burst stack by an ISCE2 job"):
        stack.cslc(stack.dates[0], (slice(0, 8), slice(0, 8)), CslcOptions(engine="isce2"))


def test_orbit_file_from_the_cube_reads_back(tmp_path, stack):
    """The .EOF written from the cube: our ingest reader gets the same vectors, and its name's
    validity covers the SAFE by more than stackSentinel's 60 s."""
    from datetime import datetime

    from cube.ingest._orbit import read_orbit_file
    from cube.isce2 import write_orbit_eof

    burst = stack.burst(stack.dates[1])
    path = write_orbit_eof(tmp_path, burst)
    orbit = read_orbit_file(str(path))
    assert orbit.source == f"POEORB:{path.name}"
    assert [sv.time for sv in orbit.state_vectors] == [sv.time for sv in burst.orbit.state_vectors]
    np.testing.assert_array_equal([sv.position for sv in orbit.state_vectors],
                                  [sv.position for sv in burst.orbit.state_vectors])
    fields = path.stem.split("_")
    v0, v1 = (datetime.strptime(f.removeprefix("V"), "%Y%m%dT%H%M%S") for f in fields[6:8])
    start, stop = (datetime.strptime(t, "%Y%m%dT%H%M%S") for t in burst.product_id.split("_")[5:7])
    assert (start - v0).total_seconds() > 60 and (v1 - stop).total_seconds() > 60


def test_safes_are_found_by_product_name(tmp_path):
    from cube.isce2 import find_safes

    names = ["S1A_IW_SLC__1SDV_20240106T022010_20240106T022037_051980_063255_ABDC",
             "S1A_IW_SLC__1SDV_20240118T022010_20240118T022037_052155_06397C_B1D8"]
    (tmp_path / "a" / f"{names[0]}.SAFE").mkdir(parents=True)
    (tmp_path / f"{names[1]}.zip").write_bytes(b"")
    found = find_safes(names, [tmp_path / "a", tmp_path / f"{names[1]}.zip"])
    assert found == {names[0]: tmp_path / "a" / f"{names[0]}.SAFE", names[1]: tmp_path / f"{names[1]}.zip"}
    with pytest.raises(NotFoundError, match=f"no SAFE for {names[1]} in {tmp_path / 'a'}.*sources"):
        find_safes(names, [tmp_path / "a"])
