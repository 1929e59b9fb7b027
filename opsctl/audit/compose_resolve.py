"""The Compose model of a stack directory, resolved the way Compose v2 resolves it, with where every part came from.

Ported from compose-go v2.9.1 (what Compose v2.40 runs) for what the audit reads:
- the files: `COMPOSE_FILE` (and `COMPOSE_PATH_SEPARATOR`) from the project
  environment, else compose.yaml / compose.yml / docker-compose.yml /
  docker-compose.yaml and the first compose.override.yml / ... beside it;
  every YAML document of every file, in order;
- the project environment: the environment Compose itself runs with (the audit
  gives it only HOME and PATH), then `.env` (what is already set wins);
- per file: interpolation, then `extends` (same file or `file:`), then top-level
  `include` (each a project of its own), then the override merge and the
  de-duplication of lists (ports, environment, cap_drop, ...);
- at the end: relative paths, `- NAME` taken from the project environment,
  `env_file` values under `environment` (which wins), every profile active.

The result is the canonical shape `docker compose config --format json`
prints, so the two can be compared; `Source` records which file (and YAML
path) each fragment of a service came from, for file:line evidence.
Anything Compose would refuse is a `ComposeRefusal` with the file and line.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from opsctl.audit.compose_dotenv import DotenvError, parse_dotenv
from opsctl.audit.compose_template import TemplateError, substitute
from opsctl.audit.yamldoc import YamlDoc, parse_yaml_documents, read_stack_text

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml", "docker-compose.override.yml", "docker-compose.override.yaml")
DOTENV = ".env"


class ComposeRefusal(Exception):
    """Compose would refuse the project: the message, and where."""

    def __init__(self, message: str, rel: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message, self.rel, self.line = message, rel, line


@dataclass(frozen=True)
class EnvVar:
    value: str
    path: str  # where it is set, as shown in evidence
    line: int | None
    used: frozenset[str] = frozenset()  # the variables it was interpolated from


@dataclass(frozen=True)
class Source:
    """One fragment of a service's definition: the file, its YAML path there, and the fragment (interpolated)."""

    doc: YamlDoc
    base: tuple
    spec: dict
    workdir: Path
    used: dict = field(default_factory=dict, repr=False)  # YAML path -> variables interpolated there


@dataclass
class ResolvedService:
    name: str
    spec: dict  # canonical, as `docker compose config --format json` prints it
    sources: list[Source]  # merge order: extends bases first, then each file
    env: dict[str, EnvVar] = field(default_factory=dict)  # the container's environment, with where each came from


@dataclass
class Resolved:
    services: dict[str, ResolvedService]
    docs: list[YamlDoc]  # every compose YAML file read
    env_files: list[tuple[str, str]]  # (rel, text) of .env and every env_file read
    project_env: dict[str, EnvVar]
    files: list[str]  # the compose files, in order, as shown in evidence


# --- reading -----------------------------------------------------------------------------------------------------

@dataclass
class Reader:
    stack_dir: Path
    docs: dict[Path, list[YamlDoc]] = field(default_factory=dict)
    texts: dict[Path, str | None] = field(default_factory=dict)

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.stack_dir))
        except ValueError:
            return str(path)

    def text(self, path: Path) -> str | None:
        if path not in self.texts:
            self.texts[path] = read_stack_text(path, self.rel(path))
        return self.texts[path]

    def yaml(self, path: Path) -> list[YamlDoc]:
        if path not in self.docs:
            text = self.text(path)
            if text is None:
                raise ComposeRefusal(f"{self.rel(path)} does not exist", self.rel(path))
            self.docs[path] = parse_yaml_documents(text, self.rel(path), schema="compose", multiple=True)
        return self.docs[path]


def _lookup(env: dict[str, EnvVar]) -> Callable[[str], "str | None"]:
    return lambda name: env[name].value if name in env else None


def read_project_env(reader: Reader, project_dir: Path, base_env: dict[str, str]) -> dict[str, EnvVar]:
    """The process environment, then `.env` (compose's dotenv rules; what the environment sets wins)."""
    env = {name: EnvVar(value, "the environment", None) for name, value in base_env.items()}
    path = project_dir / DOTENV
    text = reader.text(path)
    if text is None:
        return env
    rel = reader.rel(path)
    try:
        assignments = parse_dotenv(text, lambda name: base_env.get(name), inherit_from_output=True)
    except DotenvError as error:
        raise ComposeRefusal(f"failed to read {rel}: {error}", rel, error.line) from None
    from_file = {a.name: EnvVar(a.value, rel, a.line, a.used) for a in assignments}
    return {**from_file, **env}


def compose_files(reader: Reader, project_dir: Path, env: dict[str, EnvVar], explicit: str | None) -> list[Path]:
    """The files Compose reads, in order: -f, else COMPOSE_FILE, else the default name and its override."""
    if explicit:
        return [Path(explicit) if Path(explicit).is_absolute() else project_dir / explicit]
    if "COMPOSE_FILE" in env:
        separator = env["COMPOSE_PATH_SEPARATOR"].value if env.get("COMPOSE_PATH_SEPARATOR") and env["COMPOSE_PATH_SEPARATOR"].value else ":"
        return [project_dir / part for part in env["COMPOSE_FILE"].value.split(separator)]
    # lexists: a FIFO or a link in a compose file's place is still the file Compose would try to read (and we refuse)
    found = [project_dir / name for name in DEFAULT_FILES if os.path.lexists(project_dir / name)]
    if not found:
        return []
    overrides = [project_dir / name for name in OVERRIDE_FILES if os.path.lexists(project_dir / name)]
    return found[:1] + overrides[:1]


# --- interpolation -----------------------------------------------------------------------------------------------

_BOOLEANS = {"true": True, "false": False, "y": True, "yes": True, "on": True, "n": False, "no": False, "off": False}
# The service fields compose-go casts after interpolation (loader/interpolate.go), among those we read.
_CASTS = {"read_only": "bool", "privileged": "bool", "init": "bool", "pids_limit": "int", "tty": "bool", "stdin_open": "bool"}


def _cast(value: str, kind: str, where: str) -> Any:
    if kind == "bool":
        if value.lower() not in _BOOLEANS:
            raise ComposeRefusal(f"{where}: failed to cast to expected type: invalid boolean: {value}")
        return _BOOLEANS[value.lower()]
    try:
        return int(value)
    except ValueError:
        raise ComposeRefusal(f"{where}: failed to cast to expected type: invalid number {value!r}") from None


def _interpolate(node: Any, path: tuple, env: dict[str, EnvVar], used: dict, rel: str, doc: YamlDoc) -> Any:
    if isinstance(node, str):
        seen: set[str] = set()
        try:
            value = substitute(node, _lookup(env), seen)
        except TemplateError as error:
            dotted = ".".join(map(str, path))
            raise ComposeRefusal(f"error while interpolating {dotted}: {error}", rel, doc.line(*path)) from None
        if seen:
            used[path] = frozenset(seen)
        if len(path) == 3 and path[0] == "services" and path[2] in _CASTS:
            return _cast(value, _CASTS[path[2]], ".".join(map(str, path)))
        if len(path) == 5 and path[0] == "services" and path[2] == "ports" and path[4] == "target":
            return _cast(value, "int", ".".join(map(str, path)))
        return value
    if isinstance(node, dict):
        return {key: _interpolate(value, path + (key,), env, used, rel, doc) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate(value, path + (index,), env, used, rel, doc) for index, value in enumerate(node)]
    return node


# --- merging (override/merge.go) ---------------------------------------------------------------------------------

def go_string(value: Any) -> str:
    """fmt.Sprint of a YAML scalar, as compose-go turns values into strings (floats: Go's shortest %g)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    from decimal import Decimal

    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exponent  # digits before the decimal point
    exp = point - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:  # strconv 'g' with the shortest precision: eprec is 6
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{minus}{text}{'0' * (point - len(text))}"
    return f"{minus}{text[:point]}.{text[point:]}"


def _as_sequence(value: Any) -> list:
    """convertIntoSequence: a mapping becomes sorted KEY=VALUE strings (KEY alone for null)."""
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if item is None:
                items.append(str(key))
            elif isinstance(item, list):
                items.extend(f"{key}={go_string(v)}" for v in item)
            else:
                items.append(f"{key}={go_string(item)}")
        return sorted(items)
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return [value]
    return []


def _as_mapping(value: Any, default: dict | None) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(item): (dict(default) if default is not None else None) for item in value}
    return {}


_SEQUENCE_FIELDS = {"annotations", "dns", "dns_opt", "dns_search", "env_file", "label_file", "environment", "labels",
                    "sysctls", "tmpfs"}
_OVERRIDE_FIELDS = {"command", "entrypoint"}


def _merge(base: Any, other: Any, path: tuple) -> Any:
    """mergeYaml: `other` (the later file) over `base`, with compose's special cases for service fields."""
    in_service = len(path) >= 3 and path[0] == "services"
    service_field = path[2] if in_service and len(path) == 3 else None
    if service_field in _OVERRIDE_FIELDS or (in_service and path[2:] == ("healthcheck", "test")):
        return other
    if service_field in _SEQUENCE_FIELDS:
        return _as_sequence(base) + _as_sequence(other)
    if service_field == "extra_hosts":
        left = _as_sequence(base)
        return left + [item for item in _as_sequence(other) if item not in left]
    if service_field == "logging" and isinstance(base, dict) and isinstance(other, dict):
        if "driver" in other and "driver" in base and other["driver"] != base["driver"]:
            return other
        return _merge_mappings(base, other, path)
    if service_field == "depends_on":
        default = {"condition": "service_started", "required": True}
        return _merge_mappings(_as_mapping(base, default), _as_mapping(other, default), path)
    if service_field in ("networks", "models"):
        return _merge_mappings(_as_mapping(base, None), _as_mapping(other, None), path)
    if service_field == "build":
        as_build = (lambda value: {"context": value} if isinstance(value, str) else value if isinstance(value, dict) else {})
        return _merge_mappings(as_build(base), as_build(other), path)
    if other is None:
        return base
    if isinstance(base, dict):
        if not isinstance(other, dict):
            raise ComposeRefusal(f"cannot override {'.'.join(map(str, path))}")
        return _merge_mappings(base, other, path)
    if isinstance(base, list):
        if not isinstance(other, list):
            raise ComposeRefusal(f"cannot override {'.'.join(map(str, path))}")
        return base + other
    return other


def _merge_mappings(base: dict, other: dict, path: tuple) -> dict:
    merged = dict(base)
    for key, value in other.items():
        merged[key] = _merge(merged[key], value, path + (key,)) if key in merged else value
    return merged


# --- de-duplication (override/uncity.go) -------------------------------------------------------------------------

def _key_value_key(entry: Any) -> str:
    return str(entry).split("=", 1)[0] if isinstance(entry, str) else repr(entry)


def _port_key(entry: Any) -> str:
    if isinstance(entry, dict):
        return (f"{entry.get('host_ip', '0.0.0.0')}:{entry.get('published')}:{entry.get('target')}/"
                f"{entry.get('protocol', 'tcp')}")
    return str(entry)


def _volume_key(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target"))
    return str(_parse_volume(str(entry)).get("target"))


def _env_file_key(entry: Any) -> str:
    return str(entry.get("path")) if isinstance(entry, dict) else str(entry)


_UNIQUE = {"cap_add": _key_value_key, "cap_drop": _key_value_key, "dns": _key_value_key, "dns_opt": _key_value_key,
           "dns_search": _key_value_key, "environment": _key_value_key, "labels": _key_value_key,
           "links": _key_value_key, "profiles": _key_value_key, "sysctls": _key_value_key, "tmpfs": _key_value_key,
           "annotations": _key_value_key, "expose": str, "ports": _port_key, "volumes": _volume_key,
           "env_file": _env_file_key}


def _unique(values: list, key: Callable[[Any], str]) -> list:
    """Later entries replace earlier ones with the same key, in the earlier one's place."""
    out: list = []
    positions: dict[str, int] = {}
    for entry in values:
        name = key(entry)
        if name in positions:
            out[positions[name]] = entry
        else:
            positions[name] = len(out)
            out.append(entry)
    return out


def _enforce_unicity(service: dict) -> dict:
    for name, key in _UNIQUE.items():
        if isinstance(service.get(name), list):
            service[name] = _unique(service[name], key)
    return service


# --- canonical forms (transform/*.go, types/*.go) ----------------------------------------------------------------

_PORT_NUMBER = re.compile(r"^\d+$")


def _port_range(text: str, what: str) -> tuple[int, int]:
    start, dash, end = text.partition("-")
    if not _PORT_NUMBER.match(start) or (dash and not _PORT_NUMBER.match(end)):
        raise ComposeRefusal(f"invalid {what} port: {text}")
    first, last = int(start), int(end) if dash else int(start)
    if last < first:
        raise ComposeRefusal(f"invalid {what} port range: {text}")
    return first, last


def parse_port_spec(spec: str) -> list[dict]:
    """nat.ParsePortSpecs: [IP:][HOST:]CONTAINER[/PROTO], ranges, and [v6]: hosts, as long-syntax entries."""
    raw, _, protocol = spec.partition("/")
    protocol = (protocol or "tcp").lower()
    if not raw:
        raise ComposeRefusal(f"invalid port spec: {spec}")
    parts = raw.split(":")
    if len(parts) == 1:
        ip, host, container = "", "", parts[0]
    elif len(parts) == 2:
        ip, host, container = "", parts[0], parts[1]
    else:
        ip, host, container = ":".join(parts[:-2]), parts[-2], parts[-1]
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    first, last = _port_range(container, "container")
    host_first = host_last = None
    if host:
        host_first, host_last = _port_range(host, "host")
        if host_last - host_first != last - first and not (host_first != host_last and first == last):
            raise ComposeRefusal(f"invalid ranges specified for container and host ports: {spec}")
    entries = []
    for offset, target in enumerate(range(first, last + 1)):
        entry: dict = {"mode": "ingress", "target": target, "protocol": protocol}
        if ip:
            entry["host_ip"] = ip
        if host_first is not None:
            entry["published"] = (str(host_first + offset) if host_last - host_first == last - first
                                  else f"{host_first}-{host_last}")
        entries.append(entry)
    return sorted(entries, key=lambda e: f"{e['target']}/{e['protocol']}")


def canonical_ports(value: Any, where: str) -> list[dict]:
    if not isinstance(value, list):
        raise ComposeRefusal(f"{where}: invalid type {type(value).__name__} for ports")
    ports = []
    for entry in value:
        if isinstance(entry, bool) or not isinstance(entry, (int, str, dict)):
            raise ComposeRefusal(f"{where}: invalid type {type(entry).__name__} for port")
        if isinstance(entry, dict):
            port = dict(entry)
            port.setdefault("mode", "ingress")
            port.setdefault("protocol", "tcp")
            if port.get("published") is not None:
                port["published"] = go_string(port["published"])
            ports.append(port)
        else:
            ports.extend(parse_port_spec(str(entry)))
    return ports


def _parse_volume(spec: str) -> dict:
    """format.ParseVolume: SOURCE:TARGET[:OPTIONS] or TARGET; a source starting with . / or ~ is a bind mount."""
    if len(spec) <= 2:
        return {"type": "volume", "target": spec}
    parts = spec.split(":")
    volume: dict = {}
    if len(parts) == 1:
        volume["target"] = parts[0]
    else:
        volume["source"], volume["target"] = parts[0], parts[1]
        for option in ":".join(parts[2:]).split(",") if len(parts) > 2 else []:
            if option == "ro":
                volume["read_only"] = True
            elif option == "rw":
                volume.pop("read_only", None)
    source = volume.get("source", "")
    volume["type"] = "bind" if source[:1] in (".", "/", "~") else "volume"
    return volume


def _canonical_volumes(value: Any, workdir: Path, where: str) -> list[dict]:
    if not isinstance(value, list):
        raise ComposeRefusal(f"{where}: volumes must be a list")
    volumes = []
    for entry in value:
        volume = _parse_volume(entry) if isinstance(entry, str) else dict(entry) if isinstance(entry, dict) else None
        if volume is None:
            raise ComposeRefusal(f"{where}: invalid type {type(entry).__name__} for service volume mount")
        if volume.get("type") == "bind" and isinstance(volume.get("source"), str):
            volume["source"] = str(_resolve_path(volume["source"], workdir))
        volumes.append(volume)
    return volumes


def _resolve_path(path: str, workdir: Path) -> Path:
    if path.startswith("~"):
        path = os.path.expanduser(path)
    return Path(os.path.normpath(workdir / path))


def _shell_words(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [go_string(word) for word in value]
    try:
        return shlex.split(str(value))
    except ValueError as error:
        raise ComposeRefusal(f"{where}: {error}") from None


_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4, "p": 1024 ** 5}
_BYTES = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def parse_bytes(value: Any, where: str) -> int:
    """go-units RAMInBytes: 512m, 1g, 1.5GiB, or a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _BYTES.match(str(value))
    if not match:
        raise ComposeRefusal(f"{where}: invalid size: {value!r}")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def _canonical_env_files(value: Any, workdir: Path, where: str) -> list[dict]:
    entries = [value] if isinstance(value, str) else value if isinstance(value, list) else None
    if entries is None:
        raise ComposeRefusal(f"{where}: invalid type {type(value).__name__} for env_file")
    out = []
    for entry in entries:
        item = {"path": entry, "required": True} if isinstance(entry, str) else dict(entry) if isinstance(entry, dict) else None
        if item is None or not isinstance(item.get("path"), str):
            raise ComposeRefusal(f"{where}: an env_file entry needs a path")
        item.setdefault("required", True)
        item["path"] = str(_resolve_path(item["path"], workdir))
        out.append(item)
    return out


def _environment_items(value: Any, where: str) -> dict[str, str | None]:
    """`environment:` as a mapping (list form KEY=VALUE, or KEY alone for a value taken from the project)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): (None if v is None else go_string(v)) for k, v in value.items()}
    if isinstance(value, list):
        items: dict[str, str | None] = {}
        for entry in value:
            text = go_string(entry)
            name, equals, rest = text.partition("=")
            if name and name[-1].isspace():
                raise ComposeRefusal(f"environment variable {name} is declared with a trailing space")
            items[name] = rest if equals else None
        return items
    raise ComposeRefusal(f"{where}: environment must be a mapping or a list")


def _canonical_service(name: str, spec: dict, workdir: Path) -> dict:
    """The fields the audit reads, in the shape `docker compose config --format json` prints them."""
    where = f"services.{name}"
    out = dict(spec)
    for key in ("entrypoint", "command"):
        if key in out:
            out[key] = _shell_words(out[key], f"{where}.{key}")
    if "ports" in out:
        out["ports"] = canonical_ports(out["ports"], f"{where}.ports")
    if "volumes" in out:
        out["volumes"] = _canonical_volumes(out["volumes"], workdir, f"{where}.volumes")
    if "env_file" in out:
        out["env_file"] = _canonical_env_files(out["env_file"], workdir, f"{where}.env_file")
    if "environment" in out:
        out["environment"] = _environment_items(out["environment"], where)
    for key in ("cap_add", "cap_drop", "security_opt", "profiles", "dns", "tmpfs"):
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
        elif key in out and out[key] is not None and not isinstance(out[key], list):
            raise ComposeRefusal(f"{where}.{key} must be a list")
    if "mem_limit" in out:
        out["mem_limit"] = str(parse_bytes(out["mem_limit"], f"{where}.mem_limit"))
    limits = (out.get("deploy") or {}).get("resources", {}).get("limits") if isinstance(out.get("deploy"), dict) else None
    if isinstance(limits, dict) and "memory" in limits:
        limits["memory"] = str(parse_bytes(limits["memory"], f"{where}.deploy.resources.limits.memory"))
    logging = out.get("logging")
    if isinstance(logging, dict) and isinstance(logging.get("options"), dict):
        logging["options"] = {str(k): (None if v is None else go_string(v)) for k, v in logging["options"].items()}
    return _enforce_unicity(out)


# --- extends and include -----------------------------------------------------------------------------------------

@dataclass
class _Loaded:
    """One project's services while its files are merged: raw (interpolated, merged) specs and their sources."""

    specs: dict[str, dict] = field(default_factory=dict)
    sources: dict[str, list[Source]] = field(default_factory=dict)
    workdirs: dict[str, Path] = field(default_factory=dict)
    envs: dict[str, dict[str, EnvVar]] = field(default_factory=dict)  # the environment `- NAME` resolves from


@dataclass
class _Context:
    reader: Reader
    base_env: dict[str, str]
    including: tuple[Path, ...] = ()


def _doc_services(doc_data: dict, rel: str) -> dict:
    services = doc_data.get("services")
    if services is None:
        return {}
    if not isinstance(services, dict):
        raise ComposeRefusal("services must be a mapping", rel)
    for name, spec in services.items():
        if spec is not None and not isinstance(spec, dict):
            raise ComposeRefusal(f"services.{name} must be a mapping", rel)
    return services


def _interpolated_doc(doc: YamlDoc, env: dict[str, EnvVar]) -> tuple[dict, dict]:
    used: dict = {}
    return _interpolate(doc.data, (), env, used, doc.rel, doc), used


def _extend(ctx: _Context, name: str, services: dict, doc: YamlDoc, used: dict, env: dict[str, EnvVar],
            workdir: Path, chain: tuple) -> tuple[dict, list[Source]]:
    """A service with its `extends` chain applied (override/extends.go), and the sources, base first."""
    spec = services.get(name) or {}
    source = Source(doc, ("services", name), spec, workdir,
                    {path: vars for path, vars in used.items() if path[:2] == ("services", name)})
    extends = spec.get("extends")
    if extends is None:
        return spec, [source]
    line = doc.line("services", name, "extends")
    if isinstance(extends, str):
        ref, file = extends, None
    elif isinstance(extends, dict) and isinstance(extends.get("service"), str):
        ref, file = extends["service"], extends.get("file")
    else:
        raise ComposeRefusal(f"extends.{name}.service is required", doc.rel, line)
    if file is not None:
        path = _resolve_path(str(file), workdir)
        base_docs = ctx.reader.yaml(path)
        base_services: dict = {}
        base_used: dict = {}
        base_doc = base_docs[-1]
        for base_doc in base_docs:
            data, doc_used = _interpolated_doc(base_doc, env)
            base_services.update(_doc_services(data, base_doc.rel))
            base_used.update(doc_used)
        if ref not in base_services:
            raise ComposeRefusal(f"cannot extend service {name!r} in {doc.rel}: service {ref!r} not found in {file}", doc.rel, line)
        base_key = (str(path), ref)
        base_dir = path.parent
    else:
        if ref not in services:
            raise ComposeRefusal(f"cannot extend service {name!r} in {doc.rel}: service {ref!r} not found", doc.rel, line)
        base_services, base_used, base_doc, base_key, base_dir = services, used, doc, (doc.rel, ref), workdir
    if base_key in chain:
        raise ComposeRefusal(f"circular reference with extends: {ref} in {base_doc.rel}", doc.rel, line)
    base_spec, base_sources = _extend(ctx, ref, base_services, base_doc, base_used, env, base_dir, chain + (base_key,))
    if base_dir != workdir:  # a base from another file: its relative paths are relative to that file
        base_spec = _absolute_paths(base_spec, base_dir)
    base_spec = _deep_copy(base_spec)
    for path in _service_resets(doc, name):
        _drop(base_spec, path)
    merged = _merge(base_spec, {k: v for k, v in spec.items() if k != "extends"}, ("services", "x"))
    merged.pop("extends", None)
    return merged, base_sources + [source]


def _drop(spec: Any, path: tuple) -> None:
    """Remove `path` from a nested dict/list (what !reset and !override do to earlier values)."""
    for part in path[:-1]:
        if isinstance(spec, dict) and part in spec:
            spec = spec[part]
        elif isinstance(spec, list) and isinstance(part, int) and 0 <= part < len(spec):
            spec = spec[part]
        else:
            return
    if isinstance(spec, dict):
        spec.pop(path[-1], None)
    elif isinstance(spec, list) and isinstance(path[-1], int) and 0 <= path[-1] < len(spec):
        del spec[path[-1]]


def _service_resets(doc: YamlDoc, name: str) -> list[tuple]:
    return [path[2:] for path in doc.resets if path[:2] == ("services", name) and len(path) > 2]


def _absolute_paths(spec: dict, workdir: Path) -> dict:
    spec = dict(spec)
    if "env_file" in spec:
        spec["env_file"] = _canonical_env_files(spec["env_file"], workdir, "env_file")
    if "volumes" in spec:
        spec["volumes"] = _canonical_volumes(spec["volumes"], workdir, "volumes")
    return spec


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _include(ctx: _Context, entries: Any, doc: YamlDoc, env: dict[str, EnvVar], workdir: Path) -> _Loaded:
    """Top-level `include:` (loader/include.go): each entry a project of its own, its services imported."""
    line = doc.line("include")
    if not isinstance(entries, list):
        raise ComposeRefusal("`include` must be a list", doc.rel, line)
    imported = _Loaded()
    for index, entry in enumerate(entries):
        at = doc.line("include", index)
        entry = {"path": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or entry.get("path") is None:
            raise ComposeRefusal("an include entry needs a path", doc.rel, at)
        paths = [entry["path"]] if isinstance(entry["path"], str) else entry["path"]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ComposeRefusal("include path must be a string or a list of strings", doc.rel, at)
        files = [_resolve_path(p, workdir) for p in paths]
        if files[0] in ctx.including:
            raise ComposeRefusal(f"include cycle detected: {ctx.reader.rel(files[0])}", doc.rel, at)
        project_dir = entry.get("project_directory")
        project_dir = files[0].parent if not project_dir else _resolve_path(str(project_dir), workdir)
        env_files = entry.get("env_file")
        if env_files is None:
            env_paths = [project_dir / DOTENV] if (project_dir / DOTENV).is_file() else []
        else:
            env_paths = [_resolve_path(str(f), workdir) for f in ([env_files] if isinstance(env_files, str) else env_files)]
        included_env = dict(env)
        for env_path in env_paths:
            text = ctx.reader.text(env_path)
            rel = ctx.reader.rel(env_path)
            if text is None:
                raise ComposeRefusal(f"couldn't find env file: {rel}", doc.rel, at)
            try:
                assignments = parse_dotenv(text, _lookup(env), inherit_from_output=True)
            except DotenvError as error:
                raise ComposeRefusal(f"failed to read {rel}: {error}", rel, error.line) from None
            for a in assignments:
                included_env.setdefault(a.name, EnvVar(a.value, rel, a.line, a.used))  # the including project wins
        child = _Context(ctx.reader, ctx.base_env, ctx.including + (files[0],))
        loaded = _load_files(child, files, included_env, project_dir)
        for name, spec in loaded.specs.items():
            if name in imported.specs and imported.specs[name] != spec:
                raise ComposeRefusal(f"services.{name} conflicts with imported resource", doc.rel, at)
            imported.specs[name] = spec
            imported.sources[name] = loaded.sources[name]
            imported.workdirs[name] = loaded.workdirs[name]
            imported.envs[name] = loaded.envs[name]
    return imported


def _load_files(ctx: _Context, files: list[Path], env: dict[str, EnvVar], workdir: Path) -> _Loaded:
    """loadYamlModel: every document of every file, merged in order, paths made absolute."""
    loaded = _Loaded()
    for path in files:
        for doc in ctx.reader.yaml(path):
            data, used = _interpolated_doc(doc, env)
            services = _doc_services(data, doc.rel)
            extended = {}
            for name in services:
                extended[name] = _extend(ctx, name, services, doc, used, env, workdir, ((doc.rel, name),))
            if "include" in data and data["include"] is not None:
                imported = _include(ctx, data["include"], doc, env, workdir)
                for name, spec in imported.specs.items():
                    if name in extended and extended[name][0] != spec:
                        raise ComposeRefusal(f"services.{name} conflicts with imported resource", doc.rel, doc.line("include"))
                    if name not in extended:
                        extended[name] = (spec, imported.sources[name])
                        loaded.workdirs.setdefault(name, imported.workdirs[name])
                        loaded.envs.setdefault(name, imported.envs[name])
            for path in doc.resets:
                if path[:1] == ("services",) and len(path) == 2:
                    loaded.specs.pop(path[1], None)
                elif path[:1] == ("services",) and path[1] in loaded.specs:
                    _drop(loaded.specs[path[1]], path[2:])
            for name, (spec, sources) in extended.items():
                spec = _absolute_paths(spec, workdir)
                if name in loaded.specs:
                    loaded.specs[name] = _enforce_unicity(_merge(loaded.specs[name], spec, ("services", name)))
                    loaded.sources[name] = loaded.sources[name] + sources
                else:
                    loaded.specs[name] = _enforce_unicity(_deep_copy(spec))
                    loaded.sources[name] = list(sources)
                loaded.workdirs.setdefault(name, workdir)
                loaded.envs.setdefault(name, env)
    return loaded


# --- the environment a container receives ------------------------------------------------------------------------

def _environment_line(source: Source, name: str) -> int | None:
    environment = source.spec.get("environment")
    base = source.base + ("environment",)
    if isinstance(environment, dict) and name in environment:
        return source.doc.line(*base, name)
    if isinstance(environment, list):
        for index in range(len(environment) - 1, -1, -1):
            if go_string(environment[index]).partition("=")[0] == name:
                return source.doc.line(*base, index)
    return None


def _environment_used(source: Source, name: str) -> frozenset[str]:
    environment = source.spec.get("environment")
    base = source.base + ("environment",)
    if isinstance(environment, dict):
        return source.used.get(base + (name,), frozenset())
    if isinstance(environment, list):
        for index in range(len(environment) - 1, -1, -1):
            if go_string(environment[index]).partition("=")[0] == name:
                return source.used.get(base + (index,), frozenset())
    return frozenset()


def _resolve_environment(ctx: _Context, service: ResolvedService, project_env: dict[str, EnvVar],
                         own_env: dict[str, EnvVar], env_texts: list[tuple[str, str]]) -> None:
    """env_file values, then `environment:` over them; `- NAME` from the project (WithServicesEnvironmentResolved)."""
    spec = service.spec
    declared = spec.get("environment") or {}
    values: dict[str, EnvVar] = {}
    for name, value in declared.items():
        origin = next((s for s in reversed(service.sources) if _environment_line(s, name) is not None), None)
        rel, line = (origin.doc.rel, _environment_line(origin, name)) if origin else (service.sources[0].doc.rel, None)
        used = _environment_used(origin, name) if origin else frozenset()
        if value is None:
            if name not in own_env:
                continue  # unset everywhere: the container does not get it
            var = own_env[name]
            values[name] = EnvVar(var.value, rel, line, frozenset({name}) | var.used)
        else:
            values[name] = EnvVar(value, rel, line, used)
    from_files: dict[str, EnvVar] = {}
    accumulated = {name: var.value for name, var in values.items()}
    for entry in spec.get("env_file") or []:
        path = Path(entry["path"])
        text = ctx.reader.text(path)
        rel = ctx.reader.rel(path)
        if text is None:
            if entry.get("required", True):
                raise ComposeRefusal(f"env file {rel} not found", service.sources[-1].doc.rel,
                                     service.sources[-1].doc.line(*service.sources[-1].base, "env_file"))
            continue
        env_texts.append((rel, text))

        def lookup(name: str) -> str | None:
            if name in project_env:
                return project_env[name].value
            return values[name].value if name in values else None

        try:
            assignments = parse_dotenv(text, lookup, initial=accumulated)
        except DotenvError as error:
            raise ComposeRefusal(f"failed to read {rel}: {error}", rel, error.line) from None
        for a in assignments:
            accumulated[a.name] = a.value
            from_files[a.name] = EnvVar(a.value, rel, a.line, a.used)
    service.env = {**from_files, **values}
    spec["environment"] = {name: var.value for name, var in service.env.items()}
    spec.pop("env_file", None)


# --- the whole project -------------------------------------------------------------------------------------------

def resolve_files(reader: Reader, stack_dir: Path, files: list[Path], project_env: dict[str, EnvVar],
                  base_env: dict[str, str]) -> Resolved:
    """The project made of `files`, as Compose resolves it; ComposeRefusal when Compose would refuse it."""
    ctx = _Context(reader, base_env)
    for path in files:
        if reader.text(path) is None:
            raise ComposeRefusal(f"{reader.rel(path)} does not exist", reader.rel(path))
    loaded = _load_files(ctx, files, project_env, stack_dir)
    env_texts: list[tuple[str, str]] = []
    if reader.texts.get(stack_dir / DOTENV) is not None:
        env_texts.append((DOTENV, reader.texts[stack_dir / DOTENV]))
    services = {}
    for name, raw in loaded.specs.items():
        raw = {k: v for k, v in raw.items() if k != "extends"}
        spec = _canonical_service(name, raw, loaded.workdirs[name])
        service = ResolvedService(name, spec, loaded.sources[name])
        _resolve_environment(ctx, service, project_env, loaded.envs[name], env_texts)
        _check_limits(service)
        services[name] = service
    docs = [doc for path_docs in reader.docs.values() for doc in path_docs]
    return Resolved(services, docs, env_texts, project_env, [reader.rel(path) for path in files])


def resolve(stack_dir: Path, explicit_file: str | None = None, base_env: dict[str, str] | None = None) -> Resolved | None:
    """The project Compose would run from `stack_dir` (None when it has no compose file); ComposeRefusal when it would refuse."""
    stack_dir = Path(stack_dir)
    reader = Reader(stack_dir)
    base_env = dict(base_env or {})
    project_env = read_project_env(reader, stack_dir, base_env)
    files = compose_files(reader, stack_dir, project_env, explicit_file)
    return resolve_files(reader, stack_dir, files, project_env, base_env) if files else None


def _check_limits(service: ResolvedService) -> None:
    """Compose refuses distinct values for mem_limit / pids_limit and their deploy.resources.limits twins."""
    spec = service.spec
    limits = ((spec.get("deploy") or {}).get("resources") or {}).get("limits") if isinstance(spec.get("deploy"), dict) else None
    if not isinstance(limits, dict):
        return
    for flat, nested in (("mem_limit", "memory"), ("pids_limit", "pids")):
        if flat in spec and nested in limits and str(spec[flat]) != str(limits[nested]):
            raise ComposeRefusal(f"services.{service.name}: can't set distinct values on '{flat}' and "
                                 f"'deploy.resources.limits.{nested}': invalid compose project")
