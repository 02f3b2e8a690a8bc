"""``/WMTSCapabilities.xml``.

An OGC WMTS 1.0 RESTful capabilities document (a titiler factory extension).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Annotated, Literal
from urllib.parse import urlencode

import rasterio
from attrs import define
from fastapi import Depends, Query, Request
from rio_tiler.constants import WGS84_CRS
from starlette.responses import Response
from titiler.core.factory import FactoryExtension, TilerFactory
from titiler.core.utils import tms_limits

from cube.api.tiles.tms import TMS_BY_ID

_WMTS = "http://www.opengis.net/wmts/1.0"
_OWS = "http://www.opengis.net/ows/1.1"
_XLINK = "http://www.w3.org/1999/xlink"
ET.register_namespace("", _WMTS)
ET.register_namespace("ows", _OWS)
ET.register_namespace("xlink", _XLINK)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    ns, _, name = tag.partition(":") if ":" in tag else ("", "", tag)
    uri = {"ows": _OWS, "": _WMTS}[ns]
    el = ET.SubElement(
        parent, f"{{{uri}}}{name}", {k.replace("xlink_", f"{{{_XLINK}}}"): v for k, v in attrs.items()}
    )
    if text is not None:
        el.text = text
    return el


@define
class WmtsExtension(FactoryExtension):
    """``/WMTSCapabilities.xml``.

    An OGC WMTS 1.0 RESTful capabilities document, one layer per tile matrix set, whose tile
    template carries the request's query parameters.
    """

    def register(self, factory: TilerFactory):  # type: ignore[override]
        """Add ``/WMTSCapabilities.xml`` to ``factory``'s router."""
        @factory.router.get(
            "/WMTSCapabilities.xml",
            response_class=Response,
            responses={200: {"content": {"application/xml": {}}, "description": "WMTS capabilities"}},
            operation_id=f"{factory.operation_prefix}getWMTS",
        )
        def wmts(
            request: Request,
            src=Depends(factory.path_dependency),  # noqa: B008
            tile_format: Annotated[
                Literal["png", "jpeg", "webp"], Query(description="tile format in the template")
            ] = "png",
        ) -> Response:
            """The WMTS capabilities of the layer the query names (same parameters as a tile)."""
            drop = {"tile_format", "service", "request", "version", "acceptversions", "tilesize"}
            qs = urlencode([(k, v) for k, v in request.query_params.multi_items() if k.lower() not in drop])
            media = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}[tile_format]
            root = ET.Element(f"{{{_WMTS}}}Capabilities", {"version": "1.0.0"})
            ident = _sub(root, "ows:ServiceIdentification")
            _sub(ident, "ows:Title", f"sarcube {src.product} tiles")
            _sub(ident, "ows:ServiceType", "OGC WMTS")
            _sub(ident, "ows:ServiceTypeVersion", "1.0.0")
            ops = _sub(root, "ows:OperationsMetadata")
            self_url = str(request.url)
            for op, href in (("GetCapabilities", self_url), ("GetTile", self_url)):
                get = _sub(
                    _sub(_sub(_sub(ops, "ows:Operation", name=op), "ows:DCP"), "ows:HTTP"),
                    "ows:Get",
                    xlink_href=href,
                )
                allowed = _sub(_sub(get, "ows:Constraint", name="GetEncoding"), "ows:AllowedValues")
                _sub(allowed, "ows:Value", "RESTful")
            contents = _sub(root, "Contents")
            matrix_sets = []
            with rasterio.Env():
                for tms_id in factory.supported_tms.list():
                    tms = TMS_BY_ID[tms_id]
                    with factory.reader(src, tms=tms) as dst:
                        bounds = dst.get_geographic_bounds(WGS84_CRS)
                        zooms = (dst.minzoom, dst.maxzoom)
                    layer = _sub(contents, "Layer")
                    _sub(layer, "ows:Title", f"{src.product} {src.view.name} ({tms_id})")
                    box = _sub(layer, "ows:WGS84BoundingBox", crs="urn:ogc:def:crs:OGC:2:84")
                    _sub(box, "ows:LowerCorner", f"{bounds[0]} {bounds[1]}")
                    _sub(box, "ows:UpperCorner", f"{bounds[2]} {bounds[3]}")
                    _sub(layer, "ows:Identifier", f"{src.product}_{tms_id}")
                    style = _sub(layer, "Style", isDefault="true")
                    _sub(style, "ows:Identifier", "default")
                    _sub(layer, "Format", media)
                    link = _sub(layer, "TileMatrixSetLink")
                    _sub(link, "TileMatrixSet", tms_id)
                    limits = _sub(link, "TileMatrixSetLimits")
                    for lim in tms_limits(tms, bounds, zooms=zooms, geographic_crs=WGS84_CRS):
                        el = _sub(limits, "TileMatrixLimits")
                        _sub(el, "TileMatrix", str(lim["tileMatrix"]))
                        edges = (("MinTileRow", lim["minTileRow"]), ("MaxTileRow", lim["maxTileRow"]),
                                 ("MinTileCol", lim["minTileCol"]), ("MaxTileCol", lim["maxTileCol"]))
                        for key, value in edges:
                            if key.startswith("Max"):
                                m = tms.matrix(int(lim["tileMatrix"]))
                                value = min(value, (m.matrixHeight if "Row" in key else m.matrixWidth) - 1)
                            _sub(el, key, str(value))
                    template = factory.url_for(
                        request,
                        "tile",
                        tileMatrixSetId=tms_id,
                        z="{TileMatrix}",
                        x="{TileCol}",
                        y="{TileRow}",
                        format=tile_format,
                    )
                    _sub(
                        layer,
                        "ResourceURL",
                        format=media,
                        resourceType="tile",
                        template=template + (f"?{qs}" if qs else ""),
                    )
                    matrix_sets.append(tms)
            for tms in matrix_sets:
                el = _sub(contents, "TileMatrixSet")
                _sub(el, "ows:Identifier", tms.id)
                _sub(el, "ows:SupportedCRS", tms.crs.srs)
                for m in tms.tileMatrices:
                    tm = _sub(el, "TileMatrix")
                    _sub(tm, "ows:Identifier", m.id)
                    _sub(tm, "ScaleDenominator", repr(m.scaleDenominator))
                    _sub(tm, "TopLeftCorner", " ".join(repr(float(v)) for v in m.pointOfOrigin))
                    _sub(tm, "TileWidth", str(m.tileWidth))
                    _sub(tm, "TileHeight", str(m.tileHeight))
                    _sub(tm, "MatrixWidth", str(m.matrixWidth))
                    _sub(tm, "MatrixHeight", str(m.matrixHeight))
            _sub(root, "ServiceMetadataURL", xlink_href=self_url)
            body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            return Response(body, media_type="application/xml")
