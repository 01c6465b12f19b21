"""YAML from users and run folders, read with bounds: safe loading (no tags), no anchors or aliases, a size and a
nesting limit, and integers no longer than Python converts. A 350-byte alias bomb ran 78 s and took 2.4 GB; deep
nesting raised RecursionError and a 5000-digit integer ValueError, each a traceback.
"""
from __future__ import annotations

import yaml

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
