"""STAC items and collections of the cube."""

from cube.catalog._items import make_slc_item, merge_items, write_slc_item

__all__ = ["make_slc_item", "merge_items", "write_slc_item"]
