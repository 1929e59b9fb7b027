"""A YAML file loaded once, with the line of every key, for file:line evidence.

PyYAML's composer keeps a start mark on every node; we construct the plain
Python data from the same node tree, so the values and the lines agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsctl.errors import ExitCode, OpsctlError


@dataclass(frozen=True)
class YamlDoc:
    rel: str  # the file as shown in evidence (relative to the stack dir)
    data: Any
    lines: dict[tuple, int] = field(repr=False)
    text: str = field(repr=False, default="")

    def get(self, *path: Any, default: Any = None) -> Any:
        node = self.data
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                return default
        return node

    def line(self, *path: Any) -> int:
        """The line of the deepest part of `path` that exists (1 for the file itself)."""
        for depth in range(len(path), 0, -1):
            if path[:depth] in self.lines:
                return self.lines[path[:depth]]
        return 1

    def where(self, *path: Any) -> tuple[str, int]:
        return self.rel, self.line(*path)


def _record_lines(node, path: tuple, lines: dict) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = path + (key_node.value,)
            lines[child] = key_node.start_mark.line + 1  # edit the key's line
            _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = path + (index,)
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines)


def parse_yaml(text: str, rel: str) -> YamlDoc:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # libyaml keeps marks too, 10x faster
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise OpsctlError(f"{rel}:{line}: not valid YAML: {problem}", ExitCode.USAGE) from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlDoc(rel, data if data is not None else {}, lines, text)


def read_stack_text(path: Path, rel: str) -> str | None:
    """A stack file's text, None when it does not exist; unreadable or not UTF-8 is a one-line error."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise OpsctlError(f"cannot read {rel}: {error.strerror}", ExitCode.USAGE) from None
    except UnicodeDecodeError:
        raise OpsctlError(f"cannot read {rel}: not UTF-8 text", ExitCode.USAGE) from None


def load_yaml(path: Path, rel: str) -> YamlDoc | None:
    """The document, or None when the file does not exist."""
    text = read_stack_text(path, rel)
    return None if text is None else parse_yaml(text, rel)
