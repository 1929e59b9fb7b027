"""LiteLLM's config as the proxy will load it: `include:` resolved exactly as LiteLLM 1.108.7 resolves it.

Mirrors litellm/proxy/common_utils/config_includes.py (`resolve_include_file_path`,
`resolve_includes`), which ProxyConfig._process_includes in
litellm/proxy/proxy_server.py calls: each entry is resolved next to the config
that declares it (falling back to one next to the root config), included files
are merged in breadth-first order, a top-level list is extended and any other
top-level value REPLACED (so an included `general_settings` replaces the whole
section), and a file already merged is skipped. A test runs LiteLLM's own
functions on the same corpus and compares.

Paths are the container's: the proxy reads /app/config.yaml, so includes are
resolved there and each is read from the host file its bind mount provides.
The provenance of every top-level key is kept, so evidence names the included
file and line a value really came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from opsctl.audit.yamldoc import YamlDoc, dig

INCLUDE_KEY = "include"


class IncludeError(Exception):
    """LiteLLM would refuse to start: the message and the config that declares the include."""


def resolve_include_file_path(include_file: str, declared_in: str, root_config_path: str,
                              exists: Callable[[str], bool] = os.path.exists) -> str:
    """LiteLLM's rule: next to the declaring config; else next to the root config if only that one exists."""
    declared_relative = os.path.abspath(os.path.join(os.path.dirname(declared_in), include_file))
    root_relative = os.path.abspath(os.path.join(os.path.dirname(root_config_path), include_file))
    if root_relative == declared_relative or not exists(root_relative):
        return declared_relative
    if not exists(declared_relative):
        return root_relative
    return declared_relative


def include_entries(config: Mapping[str, object]) -> tuple[str, ...]:
    if INCLUDE_KEY not in config:
        return ()
    entries = config[INCLUDE_KEY]
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        raise ValueError("'include' must be a list of file paths")
    return tuple(entries)


def _without_include(config: Mapping[str, object]) -> dict:
    return {key: value for key, value in config.items() if key != INCLUDE_KEY}


def _merged(base: Mapping[str, object], included: Mapping[str, object]) -> dict:
    def value(key):
        if key not in included:
            return base[key]
        if isinstance(included[key], list) and isinstance(base.get(key), list):
            return [*base[key], *included[key]]
        return included[key]

    return {key: value(key) for key in dict.fromkeys((*base, *included))}


def resolve_includes(config: Mapping[str, object], location: str, resolve: Callable[[str, str], str],
                     read: Callable[[str], Mapping[str, object]], trace: list | None = None) -> dict:
    """LiteLLM's merge (iterative where LiteLLM recurses); `trace` receives (location, included) in merge order."""
    pending = [(entry, location) for entry in include_entries(config)]
    loaded = {location}
    while pending:
        entry, declared_in = pending.pop(0)
        target = resolve(entry, declared_in)
        if target in loaded:
            continue
        included = read(target)
        if trace is not None:
            trace.append((target, included))
        config = _merged(config, _without_include(included))
        pending += [(e, target) for e in include_entries(included)]
        loaded.add(target)
    return _without_include(config)


@dataclass(frozen=True)
class _Segment:
    doc: YamlDoc
    offset: int  # where this file's items start in a merged list


@dataclass
class ConfigView:
    """The effective config (`data`), the files it came from, and where each value is written."""

    root: YamlDoc
    data: dict
    docs: list[YamlDoc]
    origins: dict[str, list[_Segment]] = field(default_factory=dict)
    container_path: str | None = None  # where the proxy reads it

    @property
    def rel(self) -> str:
        return self.root.rel

    @property
    def text(self) -> str:
        return self.root.text

    def get(self, *path: Any, default: Any = None) -> Any:
        return dig(self.data, path, default)

    def where(self, *path: Any) -> tuple[str, int]:
        if not path or path[0] not in self.origins:
            return self.root.rel, self.root.line(*path) if path else 1
        segments = self.origins[path[0]]
        segment = segments[-1]
        if len(path) > 1 and isinstance(path[1], int):
            for candidate in segments:
                if candidate.offset <= path[1]:
                    segment = candidate
            path = (path[0], path[1] - segment.offset, *path[2:])
        return segment.doc.rel, segment.doc.line(*path)

    def line(self, *path: Any) -> int:
        return self.where(*path)[1]


def effective_config(root: YamlDoc, root_location: str, resolve: Callable[[str, str], str],
                     read: Callable[[str], YamlDoc]) -> ConfigView:
    """The root config with its includes merged; `read` returns the YamlDoc of a location (raising IncludeError)."""
    docs_by_location: dict[str, YamlDoc] = {}

    def read_mapping(location: str) -> Mapping[str, object]:
        doc = read(location)
        docs_by_location[location] = doc
        return doc.data

    trace: list = []
    try:
        data = resolve_includes(root.data, root_location, resolve, read_mapping, trace)
    except ValueError as error:
        raise IncludeError(str(error)) from None
    origins: dict[str, list[_Segment]] = {key: [_Segment(root, 0)] for key in root.data if key != INCLUDE_KEY}
    merged = _without_include(root.data)
    for location, included in trace:
        doc = docs_by_location[location]
        for key, value in _without_include(included).items():
            if isinstance(value, list) and isinstance(merged.get(key), list):
                origins[key] = origins.get(key, []) + [_Segment(doc, len(merged[key]))]
            else:
                origins[key] = [_Segment(doc, 0)]
        merged = _merged(merged, _without_include(included))
    return ConfigView(root, data, [root, *(docs_by_location[loc] for loc, _ in trace)], origins, root_location)
