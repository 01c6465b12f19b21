"""YAML from users and run folders, read with bounds: safe loading (no tags), no anchors or aliases, a size and a
nesting limit, and integers no longer than Python converts. A 350-byte alias bomb ran 78 s and took 2.4 GB; deep
nesting raised RecursionError and a 5000-digit integer ValueError, each a traceback.
"""
from __future__ import annotations

import os

import yaml

from console.common.bounded_read import read_bytes

MAX_BYTES = 1 << 20  # a config or a typed value: a megabyte is far beyond any real one
MAX_DEPTH = 50


class YAMLLimitError(ValueError):
    """The text is valid YAML the console will not read: it says why, in one line."""


class _BoundedLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise YAMLLimitError("YAML anchors and aliases (&name, *name) are not accepted: write the values out")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise YAMLLimitError(f"YAML nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node):
        digits = len(str(node.value).lstrip("+-").replace("_", ""))
        if digits > 300:
            raise YAMLLimitError(f"a number with {digits} digits: no argument takes one")
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def load(text: str):
    """yaml.safe_load with the limits above; YAMLLimitError (a ValueError) when one is passed, yaml.YAMLError for
    invalid YAML."""
    if len(text) > MAX_BYTES:
        raise YAMLLimitError(f"{len(text) // 1024} KiB of YAML: more than {MAX_BYTES // 1024} KiB is not a config")
    return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506  a SafeLoader subclass


def read_file(path: str | os.PathLike, what: str = "config file") -> str:
    """The text of a YAML file, read with the same size bound before any parsing (a 300 MB file was read whole
    before the limit was checked) and only from a regular file (a FIFO hung the reader). OSError in one line for a
    FIFO, a device or a file over the bound (FileTooLarge), ValueError for text that is not UTF-8."""
    data = read_bytes(path, MAX_BYTES, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not UTF-8 text: save it as UTF-8") from None
