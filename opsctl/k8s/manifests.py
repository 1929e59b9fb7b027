"""A multi-document Kubernetes manifest stream, loaded once with the line of
every key (for file:line evidence into the stream).

Bounded: at most MAX_BYTES of input, and no YAML aliases (kubectl, kustomize
and helm never emit them; refusing them rules out alias-expansion bombs).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from opsctl.errors import ExitCode, OpsctlError

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64  # Kubernetes objects nest far less; bounds the recursion
STDIN = "<stdin>"


@dataclass(frozen=True)
class Manifest:
    """One object of the stream; `line(*path)` is a line of the whole stream."""

    source: str
    data: dict
    lines: dict[tuple, int] = field(repr=False)
    start: int = 1

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "")

    @property
    def name(self) -> str:
        metadata = self.data.get("metadata")
        return str(metadata.get("name") or "") if isinstance(metadata, dict) else ""

    def get(self, *path: Any, default: Any = None) -> Any:
        from opsctl.audit.yamldoc import dig

        return dig(self.data, path, default)

    def line(self, *path: Any) -> int:
        """The line of the deepest part of `path` that exists (the document's first line otherwise)."""
        for depth in range(len(path), 0, -1):
            if path[:depth] in self.lines:
                return self.lines[path[:depth]]
        return self.start

    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def _record_lines(node, path: tuple, lines: dict, seen: set, source: str) -> None:
    import yaml

    if id(node) in seen:  # the same node twice: an alias (its line is where it is used)
        raise OpsctlError(f"{source}:{lines.get(path, node.start_mark.line + 1)}: YAML aliases are not accepted "
                          "in manifests", ExitCode.USAGE)
    if len(path) > MAX_DEPTH:
        raise OpsctlError(f"{source}:{node.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels", ExitCode.USAGE)
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = path + (key_node.value,)
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines, seen, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = path + (index,)
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines, seen, source)


def parse_manifests(text: str, source: str) -> list[Manifest]:
    """Every mapping document of the stream (`kind: List` is flattened); empty documents skipped."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    found: list[Manifest] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[tuple, int] = {}
            _record_lines(node, (), lines, set(), source)
            data = loader.construct_document(node)
            if data is None:
                continue
            if not isinstance(data, dict):
                raise OpsctlError(f"{source}:{node.start_mark.line + 1}: not a Kubernetes object (a mapping)",
                                  ExitCode.USAGE)
            start = node.start_mark.line + 1
            if data.get("kind") == "List" and isinstance(data.get("items"), list):
                for index, item in enumerate(data["items"]):
                    if isinstance(item, dict):
                        prefix = ("items", index)
                        sub = {k[2:]: v for k, v in lines.items() if k[:2] == prefix}
                        found.append(Manifest(source, item, sub, lines.get(prefix, start)))
                continue
            found.append(Manifest(source, data, lines, start))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise OpsctlError(f"{source}:{mark.line + 1 if mark else 1}: not valid YAML: {problem}", ExitCode.USAGE) from None
    finally:
        loader.dispose()
    return found


def read_manifests(path: str) -> list[Manifest]:
    """FILE (a regular file), or `-` for stdin; bounded, UTF-8, one-line errors."""
    if path != "-":
        from opsctl.files import read_text

        return parse_manifests(read_text(path, MAX_BYTES, "manifests file"), path)
    raw = sys.stdin.buffer.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise OpsctlError(f"{STDIN}: larger than {MAX_BYTES // (1024 * 1024)} MiB", ExitCode.USAGE)
    try:
        return parse_manifests(raw.decode("utf-8"), STDIN)
    except UnicodeDecodeError:
        raise OpsctlError(f"cannot read {STDIN}: not UTF-8 text", ExitCode.USAGE) from None
