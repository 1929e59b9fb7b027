"""Stack files read safely, and YAML loaded once with the line of every key, for file:line evidence.

Reading: a stack file is opened with O_NONBLOCK|O_NOFOLLOW and fstat'd before a
byte is read, so a FIFO, a device or a symlink in its place is refused at once
(never blocks), and a file over MAX_BYTES is refused before it is read.

YAML: PyYAML's composer keeps a start mark on every node; we construct the
plain Python data from the same node tree, so the values and the lines agree.
Two schemas: LiteLLM reads config.yaml with PyYAML (YAML 1.1: `yes` is True),
Compose reads its files with go-yaml (YAML 1.2 core: `yes` is the string "yes",
`22:22` is not a number). Before anything walks a document, its size with every
alias expanded is counted on the node graph (linear time), so an alias bomb is
refused instead of expanded. Duplicate keys are recorded (Compose refuses them,
PyYAML keeps the last), not silently dropped.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsctl.errors import ExitCode, OpsctlError

MAX_BYTES = 1024 * 1024  # a stack file larger than this is refused unread
MAX_NODES = 100_000  # YAML nodes after expanding aliases; the reference files have about 600


@dataclass(frozen=True)
class Duplicate:
    path: tuple  # the mapping's path
    key: str
    first_line: int
    line: int  # the repeated key


class _Reset:
    """Compose's `!reset`: drop this key, here and in what earlier files set."""


class Override:
    """Compose's `!override`: this value replaces what earlier files set instead of merging with it."""

    def __init__(self, value):
        self.value = value


RESET = _Reset()


MISSING = object()  # a default that no YAML value can be


def dig(node: Any, path: tuple, default: Any = None) -> Any:
    """The value at `path` (mapping keys and list indexes) inside parsed YAML, or `default`."""
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return default
    return node


@dataclass(frozen=True)
class YamlDoc:
    rel: str  # the file as shown in evidence (relative to the stack dir)
    data: Any
    lines: dict[tuple, int] = field(repr=False)
    text: str = field(repr=False, default="")
    duplicates: tuple[Duplicate, ...] = ()
    resets: tuple[tuple, ...] = ()  # paths tagged !reset or !override (Compose): the earlier files' values there are dropped

    def get(self, *path: Any, default: Any = None) -> Any:
        return dig(self.data, path, default)

    def line(self, *path: Any) -> int:
        """The line of the deepest part of `path` that exists (1 for the file itself)."""
        for depth in range(len(path), 0, -1):
            if path[:depth] in self.lines:
                return self.lines[path[:depth]]
        return 1

    def where(self, *path: Any) -> tuple[str, int]:
        return self.rel, self.line(*path)


def read_stack_text(path: Path, rel: str, max_bytes: int = MAX_BYTES) -> str | None:
    """A stack file's text, None when it does not exist; anything else that is not a small text file is a one-line error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OpsctlError(f"cannot read {rel}: it is a symlink (the audit reads only regular files)", ExitCode.USAGE) from None
        if error.errno == errno.ENOTDIR:
            return None
        raise OpsctlError(f"cannot read {rel}: {error.strerror}", ExitCode.USAGE) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise OpsctlError(f"cannot read {rel}: it is a directory", ExitCode.USAGE)
        if not stat.S_ISREG(info.st_mode):
            raise OpsctlError(f"cannot read {rel}: not a regular file (a FIFO, socket or device)", ExitCode.USAGE)
        if info.st_size > max_bytes:
            raise OpsctlError(f"cannot read {rel}: {info.st_size} bytes, more than the {max_bytes} bytes a stack file may have",
                              ExitCode.USAGE)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we read it
        raise OpsctlError(f"cannot read {rel}: more than the {max_bytes} bytes a stack file may have", ExitCode.USAGE)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise OpsctlError(f"cannot read {rel}: not UTF-8 text", ExitCode.USAGE) from None


def _loader_classes():
    """(LiteLLM's loader, Compose's loader): PyYAML's safe loader, and one resolving scalars as YAML 1.2 core does."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml keeps marks too, 10x faster

    class Yaml12Loader(base):  # type: ignore[misc, valid-type]
        """go-yaml v3's resolution: true/false only, no sexagesimal numbers, no timestamps, 0o/0x/0b ints."""

    Yaml12Loader.yaml_implicit_resolvers = {}
    resolvers = [
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+)$", "-+0123456789"),
        ("tag:yaml.org,2002:float",
         r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
         "-+0123456789."),
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
    ]
    for tag, pattern, first in resolvers:
        Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern), list(first))

    def construct_int(loader, node):
        text = loader.construct_scalar(node).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith(("0x", "0o", "0b")):
            return sign * int(digits[2:], {"x": 16, "o": 8, "b": 2}[digits[1]])
        if len(digits) > 1 and digits.startswith("0") and digits.isdigit() and set(digits) <= set("01234567"):
            return sign * int(digits, 8)  # go-yaml v3 still reads 0777 as octal
        return sign * int(digits)

    def construct_bool(loader, node):
        return loader.construct_scalar(node).lower() == "true"

    def construct_override(loader, node):
        if isinstance(node, yaml.MappingNode):
            return Override(loader.construct_mapping(node, deep=True))
        if isinstance(node, yaml.SequenceNode):
            return Override(loader.construct_sequence(node, deep=True))
        return Override(loader.construct_scalar(node))

    Yaml12Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", construct_bool)
    Yaml12Loader.add_constructor("!reset", lambda loader, node: RESET)
    Yaml12Loader.add_constructor("!override", construct_override)
    return base, Yaml12Loader


def _strip_tags(data, path: tuple, found: list) -> object:
    """The document without !reset entries and with !override values unwrapped; their paths go to `found`."""
    if isinstance(data, Override):
        found.append(path)
        return _strip_tags(data.value, path, [])
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if value is RESET:
                found.append(path + (key,))
                continue
            out[key] = _strip_tags(value, path + (key,), found)
        return out
    if isinstance(data, list):
        return [_strip_tags(v, path + (i,), found) for i, v in enumerate(data) if v is not RESET]
    return data


_LOADERS = None


def _loader(schema: str):
    global _LOADERS
    if _LOADERS is None:
        _LOADERS = _loader_classes()
    return _LOADERS[1] if schema == "compose" else _LOADERS[0]


def _expanded_size(root) -> int:
    """How many nodes a walk of the document meets, aliases expanded, counted on the graph without expanding it."""
    import yaml

    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = [v for pair in node.value for v in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes.get(id(child), 0) for child in children), MAX_NODES + 1)
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _duplicates(node, path: tuple, found: list[Duplicate], seen_nodes: set) -> None:
    """Keys repeated in one mapping, as written (before merge keys are applied)."""
    import yaml

    if id(node) in seen_nodes:  # an alias: its keys were checked where it is defined
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if key in first:
                    found.append(Duplicate(path, key_node.value, first[key], line))
                else:
                    first[key] = line
            child = path + (key_node.value,) if isinstance(key_node, yaml.ScalarNode) else path
            _duplicates(value_node, child, found, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicates(item, path + (index,), found, seen_nodes)


def _key_lines(root, base: tuple, lines: dict) -> None:
    """The line of every key and list item (the last occurrence of a key wins, as in the data); bounded by MAX_NODES."""
    import yaml

    stack = [(root, base)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = path + (key_node.value,)
                lines[child] = key_node.start_mark.line + 1  # edit the key's line
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[path + (index,)] = item.start_mark.line + 1
                stack.append((item, path + (index,)))


def _yaml_error(error, rel: str) -> OpsctlError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = mark.line + 1 if mark else 1
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return OpsctlError(f"{rel}:{line}: not valid YAML: {problem}", ExitCode.USAGE)


def _kind(node) -> str:
    import yaml

    if node is None:
        return "empty"
    if isinstance(node, yaml.ScalarNode):
        return "a scalar" if node.value else "empty"
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


def parse_yaml_documents(text: str, rel: str, schema: str = "litellm", multiple: bool = False) -> list[YamlDoc]:
    """Every document of `text` as a mapping (one unless `multiple`); anything else is a one-line error (exit 2)."""
    import yaml

    loader = _loader(schema)(text)
    docs = []
    try:
        while True:
            if multiple:
                if not loader.check_node():
                    break
                node = loader.get_node()
            else:
                node = loader.get_single_node()
            if node is None or not isinstance(node, yaml.MappingNode):
                raise OpsctlError(f"{rel}: the document is {_kind(node)}, not a mapping", ExitCode.USAGE)
            if _expanded_size(node) > MAX_NODES:
                raise OpsctlError(f"{rel}: more than {MAX_NODES} YAML nodes once aliases are expanded (an alias bomb?)",
                                  ExitCode.USAGE)
            duplicates: list[Duplicate] = []
            _duplicates(node, (), duplicates, set())
            data = loader.construct_document(node)  # applies merge keys (<<) to the node tree in place
            resets: list[tuple] = []
            if schema == "compose":
                data = _strip_tags(data, (), resets)
            lines: dict[tuple, int] = {}
            _key_lines(node, (), lines)
            docs.append(YamlDoc(rel, data, lines, text, tuple(duplicates), tuple(resets)))
            if not multiple:
                break
    except yaml.YAMLError as error:
        raise _yaml_error(error, rel) from None
    except RecursionError:
        raise OpsctlError(f"{rel}: YAML nested too deeply", ExitCode.USAGE) from None
    except (ValueError, OverflowError) as error:  # e.g. a number PyYAML cannot build
        raise OpsctlError(f"{rel}: not valid YAML: {str(error).splitlines()[0]}", ExitCode.USAGE) from None
    finally:
        loader.dispose()
    if not docs:
        raise OpsctlError(f"{rel}: the document is empty, not a mapping", ExitCode.USAGE)
    return docs


def parse_yaml(text: str, rel: str, schema: str = "litellm") -> YamlDoc:
    return parse_yaml_documents(text, rel, schema)[0]


def load_yaml(path: Path, rel: str, schema: str = "litellm") -> YamlDoc | None:
    """The document, or None when the file does not exist."""
    text = read_stack_text(path, rel)
    return None if text is None else parse_yaml(text, rel, schema)
