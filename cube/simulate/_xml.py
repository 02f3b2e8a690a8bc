"""Small lxml helpers shared by the XML writers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from lxml import etree


def sub(parent: etree._Element, tag: str, text: object = None, **attrib: object) -> etree._Element:
    """Append child ``tag`` with optional text and attributes (values stringified)."""
    el = etree.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        el.text = text if isinstance(text, str) else str(text)
    return el


def d15(x: float) -> str:
    """Double as ESA writes it (``%.15e``)."""
    return f"{float(x):.15e}"


def f6(x: float) -> str:
    """Float as ESA writes it (``%.6e``)."""
    return f"{float(x):.6e}"


def boolean(x: bool) -> str:
    return "true" if x else "false"


def array(values: Iterable[float], fmt=f6) -> str:
    return " ".join(fmt(v) for v in values)


def int_array(values: Iterable[int]) -> str:
    return " ".join(str(int(v)) for v in values)


def sub_array(parent: etree._Element, tag: str, values: np.ndarray, fmt=f6) -> etree._Element:
    values = np.asarray(values)
    return sub(parent, tag, array(values.ravel(), fmt), count=values.shape[0])


def sub_list(parent: etree._Element, tag: str, count: int) -> etree._Element:
    return sub(parent, tag, count=count)


def write(root: etree._Element, path: Path) -> None:
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="UTF-8",
                                  pretty_print=True)
