"""Small helpers over lxml that turn a missing element into a clear error naming the file."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from lxml import etree

from cube.errors import InvalidSourceError, MissingElementError

_T = TypeVar("_T")


def parse_xml(data: bytes, name: str) -> etree._Element:
    """Parse XML bytes; ``name`` is used in the error if the document is not XML."""
    if not data:
        raise InvalidSourceError(f"{name}: file is empty, expected an XML document")
    try:
        return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        raise InvalidSourceError(f"{name}: not valid XML ({exc})") from exc


class Node:
    """An XML element plus the file it came from, with typed getters."""

    def __init__(self, element: etree._Element, name: str):
        self.element = element
        self.name = name

    def find(self, path: str) -> Node:
        """The first element at ``path``; raise MissingElementError if absent."""
        found = self.element.find(path)
        if found is None:
            where = self.element.getroottree().getpath(self.element)
            raise MissingElementError(f"{self.name}: missing element {where}/{path}")
        return Node(found, self.name)

    def maybe(self, path: str) -> Node | None:
        """The first element at ``path``, or None."""
        found = self.element.find(path)
        return None if found is None else Node(found, self.name)

    def findall(self, path: str) -> list[Node]:
        """All elements at ``path`` (possibly none)."""
        return [Node(e, self.name) for e in self.element.findall(path)]

    def text(self, path: str = ".") -> str:
        """Stripped text at ``path``."""
        return (self.find(path).element.text or "").strip()

    # The getters named float and int hide the builtins in this class body: annotations say builtins.
    def float(self, path: str = ".") -> builtins.float:
        """Text at ``path`` as float."""
        return float(self._convert(path, float))

    def int(self, path: str = ".") -> builtins.int:
        """Text at ``path`` as int."""
        return int(self._convert(path, int))

    def time(self, path: str = ".") -> datetime:
        """Text at ``path`` as a naive UTC datetime (ESA writes no zone; EOF prefixes 'UTC=')."""
        return self._convert(path, parse_time)

    def floats(self, path: str = ".") -> list[builtins.float]:
        """Space-separated numbers at ``path``."""
        return self._convert(path, lambda s: [float(v) for v in s.split()])

    def ints(self, path: str = ".") -> list[builtins.int]:
        """Space-separated integers at ``path``."""
        return self._convert(path, lambda s: [int(v) for v in s.split()])

    def _convert(self, path: str, convert: Callable[[str], _T]) -> _T:
        raw = self.text(path)
        try:
            return convert(raw)
        except ValueError as exc:
            raise InvalidSourceError(f"{self.name}: cannot read {path}={raw[:40]!r}: {exc}") from exc


def parse_time(value: str) -> datetime:
    """ISO time as naive UTC; accepts a 'UTC=' prefix and a trailing 'Z'."""
    value = value.strip().removeprefix("UTC=").removesuffix("Z")
    return datetime.fromisoformat(value)
