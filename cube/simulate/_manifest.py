"""``manifest.safe`` writer, modelled on IPF 3.9 IW SLC manifests (only the files we write)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from lxml import etree

NS = {
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "gml": "http://www.opengis.net/gml",
    "xfdu": "urn:ccsds:schema:xfdu:1",
    "safe": "http://www.esa.int/safe/sentinel-1.0",
    "s1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1",
    "s1sar": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar",
    "s1sarl1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1",
    "s1sarl2": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-2",
    "gx": "http://www.google.com/kml/ext/2.2",
}
SCHEMAS = {  # repID -> (vocabulary, support file)
    "s1Level1ProductSchema": ("XML Schema", "s1-level-1-product.xsd"),
    "s1Level1NoiseSchema": ("XML Schema", "s1-level-1-noise.xsd"),
    "s1Level1CalibrationSchema": ("XML Schema", "s1-level-1-calibration.xsd"),
    "s1ObjectTypesSchema": ("XML Schema", "s1-object-types.xsd"),
    "s1Level1MeasurementSchema": ("SDF", "s1-level-1-measurement.xsd"),
    "s1Level1MapOverlaySchema": ("XML Schema", "s1-map-overlay.xsd"),
}


def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


@dataclasses.dataclass
class ManifestInfo:
    mission_letter: str  # "A"
    swath: str
    polarizations: list[str]
    absolute_orbit: int
    relative_orbit: int
    cycle: int
    anx_time: str
    datatake: int
    start_time: str
    stop_time: str
    start_anx_ms: float  # acquisition start, ms since ANX
    stop_anx_ms: float
    segment_start: str
    processing_start: str
    processing_stop: str
    footprint: list[tuple[float, float]]  # (lat, lon) corners


def _el(parent, tag: str, text: object = None, **attrib: object) -> etree._Element:
    if ":" in tag:
        prefix, name = tag.split(":")
        tag = _q(prefix, name)
    el = etree.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        el.text = str(text)
    return el


def _wrap(section, obj_id: str, text_info: str, category: str = "DMD",
          classification: str = "DESCRIPTION") -> etree._Element:
    mo = _el(section, "metadataObject", ID=obj_id, classification=classification, category=category)
    mw = _el(mo, "metadataWrap", mimeType="text/xml", vocabularyName="SAFE", textInfo=text_info)
    return _el(mw, "xmlData")


def build_manifest(safe_dir: Path, files: list[tuple[str, str]], info: ManifestInfo) -> etree._Element:
    """Manifest for ``files`` = [(repID, path relative to the SAFE)], in writing order."""
    root = etree.Element(_q("xfdu", "XFDU"), nsmap=NS,
                         version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/slc/standard/iwdp")
    ipm = _el(root, "informationPackageMap")
    top = _el(ipm, "xfdu:contentUnit", unitType="SAFE Archive Information Package",
              textInfo="Sentinel-1 IW Level-1 SLC Product",
              dmdID="acquisitionPeriod platform generalProductInformation measurementOrbitReference "
                    "measurementFrameSet", pdiID="processing")
    ids = []
    for rep, rel in files:
        stem = Path(rel).stem.replace("-", "")
        obj_id = stem if rep == "s1Level1MeasurementSchema" else (
            stem if stem.startswith(("noise", "calibration", "mapoverlay")) else "product" + stem)
        ids.append(obj_id)
    annotation_ids = [i for (rep, _), i in zip(files, ids, strict=True)
                      if rep != "s1Level1MeasurementSchema"]
    for (rep, _), obj_id in zip(files, ids, strict=True):
        if rep == "s1Level1MeasurementSchema":
            cu = _el(top, "xfdu:contentUnit", unitType="Measurement Data Unit", repID=rep,
                     dmdID=" ".join(f"{i}Annotation" for i in annotation_ids if i != "mapoverlay") + " ")
        else:
            cu = _el(top, "xfdu:contentUnit", unitType="Metadata Unit", repID=rep)
        _el(cu, "dataObjectPointer", dataObjectID=obj_id)

    meta = _el(root, "metadataSection")
    for obj_id in annotation_ids:
        mo = _el(meta, "metadataObject", ID=f"{obj_id}Annotation", classification="DESCRIPTION",
                 category="DMD")
        _el(mo, "dataObjectPointer", dataObjectID=obj_id)

    xd = _wrap(meta, "processing", "Processing", category="PDI", classification="PROVENANCE")
    proc = _el(xd, "safe:processing", name="SLC Post Processing", start=info.processing_start,
               stop=info.processing_stop)
    fac = _el(proc, "safe:facility", country="Nowhere", name="sarcube-simulate",
              organisation="sarcube", site="sarcube.simulate (synthetic product)")
    _el(fac, "safe:software", name="Sentinel-1 IPF", version="003.91")
    _el(proc, "safe:resource", name="Sentinel-1 Product Specification (S1-RS-MDA-52-7441)",
        role="product specification")

    xd = _wrap(meta, "platform", "Platform Description")
    plat = _el(xd, "safe:platform")
    _el(plat, "safe:nssdcIdentifier", "2014-016A")
    _el(plat, "safe:familyName", "SENTINEL-1")
    _el(plat, "safe:number", info.mission_letter)
    inst = _el(plat, "safe:instrument")
    _el(inst, "safe:familyName", "Synthetic Aperture Radar", abbreviation="SAR")
    ext = _el(inst, "safe:extension")
    mode = _el(ext, "s1sarl1:instrumentMode")
    _el(mode, "s1sarl1:mode", "IW")
    _el(mode, "s1sarl1:swath", info.swath)

    xd = _wrap(meta, "measurementOrbitReference", "Orbit Reference")
    orb = _el(xd, "safe:orbitReference")
    _el(orb, "safe:orbitNumber", info.absolute_orbit, type="start")
    _el(orb, "safe:orbitNumber", info.absolute_orbit, type="stop")
    _el(orb, "safe:relativeOrbitNumber", info.relative_orbit, type="start")
    _el(orb, "safe:relativeOrbitNumber", info.relative_orbit, type="stop")
    _el(orb, "safe:cycleNumber", info.cycle)
    _el(orb, "safe:phaseIdentifier", 1)
    props = _el(_el(orb, "safe:extension"), "s1:orbitProperties")
    _el(props, "s1:pass", "ASCENDING")
    _el(props, "s1:ascendingNodeTime", info.anx_time)

    xd = _wrap(meta, "generalProductInformation", "General Product Information")
    gpi = _el(xd, "s1sarl1:standAloneProductInformation")
    _el(gpi, "s1sarl1:instrumentConfigurationID", 7)
    _el(gpi, "s1sarl1:missionDataTakeID", info.datatake)
    for pol in info.polarizations:
        _el(gpi, "s1sarl1:transmitterReceiverPolarisation", pol)
    for tag, text in (("productClass", "S"), ("productClassDescription", "SAR Standard L1 Product"),
                      ("productComposition", "Slice"), ("productType", "SLC"),
                      ("productTimelinessCategory", "Fast-24h"), ("sliceProductFlag", "true"),
                      ("segmentStartTime", info.segment_start), ("sliceNumber", 12),
                      ("totalSlices", 24)):
        _el(gpi, f"s1sarl1:{tag}", text)

    xd = _wrap(meta, "acquisitionPeriod", "Acquisition Period")
    ap = _el(xd, "safe:acquisitionPeriod")
    _el(ap, "safe:startTime", info.start_time)
    _el(ap, "safe:stopTime", info.stop_time)
    anx = _el(_el(ap, "safe:extension"), "s1:timeANX")
    _el(anx, "s1:startTimeANX", f"{info.start_anx_ms:.6e}")
    _el(anx, "s1:stopTimeANX", f"{info.stop_anx_ms:.6e}")

    xd = _wrap(meta, "measurementFrameSet", "Frame Set")
    frame = _el(_el(xd, "safe:frameSet"), "safe:frame")
    fp = _el(frame, "safe:footPrint", srsName="http://www.opengis.net/gml/srs/epsg.xml#4326")
    _el(fp, "gml:coordinates", " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in info.footprint))

    for rep, (vocabulary, href) in SCHEMAS.items():
        mo = _el(meta, "metadataObject", ID=rep, classification="SYNTAX", category="REP")
        _el(mo, "metadataReference", mimeType="text/xml", vocabularyName=vocabulary,
            locatorType="URL", href=f"./support/{href}")

    dos = _el(root, "dataObjectSection")
    for (rep, rel), obj_id in zip(files, ids, strict=True):
        data = (safe_dir / rel).read_bytes()
        do = _el(dos, "dataObject", ID=obj_id, repID=rep)
        mime = "application/octet-stream" if rel.endswith(".tiff") else "text/xml"
        bs = _el(do, "byteStream", mimeType=mime, size=len(data))
        _el(bs, "fileLocation", locatorType="URL", href=f"./{rel}")
        _el(bs, "checksum", hashlib.md5(data).hexdigest(), checksumName="MD5")
    return root
