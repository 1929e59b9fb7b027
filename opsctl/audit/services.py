"""The audit's view of the Compose model: each service as it will run, what it runs, and where each part is written.

Values come from the real `docker compose config` when it answered (else from
our resolver); the file:line of each value from our resolver's sources. A
service's role is found from what it runs (image, entrypoint, command), never
from its name: a busybox named `litellm` is not the proxy, a LiteLLM image
named `gateway` is.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from opsctl.audit.compose_resolve import EnvVar, ResolvedService, Source, canonical_ports, go_string
from opsctl.audit.yamldoc import MISSING, dig

PROXY, MIGRATE = "proxy", "migrate"
_SHELLS = {"sh", "bash", "ash", "dash", "zsh"}


@dataclass(frozen=True)
class Port:
    """One published port as compose publishes it, and the entry that publishes it."""

    host_ip: str | None  # None: every interface
    published: str | None  # None: a random host port
    target: str
    protocol: str
    text: str  # as written (interpolated), or the long syntax spelled out
    written: Any  # the entry as written in the file, before interpolation
    rel: str
    line: int | None


@dataclass(frozen=True)
class Mount:
    source: str | None
    target: str
    bind: bool
    read_only: bool


def _port_identity(entry: dict) -> tuple:
    return (entry.get("host_ip") or "", str(entry.get("published") or ""), str(entry.get("target")),
            str(entry.get("protocol") or "tcp"))


def _argv_words(words: list[str] | None) -> list[str]:
    """The words of a command, with `sh -c "..."` opened up so the script's words count too."""
    if not words:
        return []
    out = list(words)
    if PurePosixPath(words[0]).name in _SHELLS and len(words) >= 3 and words[1] == "-c":
        try:
            out += shlex.split(words[2])
        except ValueError:
            out += words[2].split()
    return out


def _runs_litellm(words: list[str]) -> bool:
    for index, word in enumerate(words):
        name = PurePosixPath(word).name
        if name in ("litellm", "litellm-proxy") or "prod_entrypoint" in name:
            return True
        if word == "-m" and index + 1 < len(words) and words[index + 1].startswith("litellm"):
            return not words[index + 1].startswith("litellm.proxy.prisma_migration")
    return False


def _runs_migration(words: list[str]) -> bool:
    return any("prisma_migration" in word or word == "--skip_server_startup" for word in words)


@dataclass
class Service:
    name: str
    spec: dict  # canonical (the shape `docker compose config --format json` prints)
    sources: list[Source]
    env: dict[str, EnvVar]
    main_rel: str  # the first compose file: evidence falls back to it

    # --- what it runs

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or "")

    @property
    def entrypoint(self) -> list[str] | None:
        value = self.spec.get("entrypoint")
        return [go_string(w) for w in value] if isinstance(value, list) else None

    @property
    def command(self) -> list[str] | None:
        value = self.spec.get("command")
        return [go_string(w) for w in value] if isinstance(value, list) else None

    @cached_property
    def argv(self) -> list[str]:
        """What the container runs, as far as the compose file says (an image's own entrypoint is not known)."""
        return _argv_words((self.entrypoint or []) + (self.command or []))

    @property
    def litellm_image(self) -> bool:
        return "litellm" in self.image.lower()

    @cached_property
    def role(self) -> str | None:
        """PROXY when it runs the LiteLLM proxy, MIGRATE when it runs LiteLLM's migrations, else None."""
        words = self.argv
        if _runs_migration(words):
            return MIGRATE
        if _runs_litellm(words):
            return PROXY
        if self.litellm_image and self.entrypoint is None:  # the image's entrypoint runs the proxy with our command
            return PROXY
        return None

    # --- where things are written

    def where(self, *path: Any) -> tuple[str, int | None]:
        """The file and line that set `path` (a field, or deeper) last; else the service's own line."""
        for source in reversed(self.sources):
            if dig(source.spec, path, MISSING) is not MISSING:
                return source.doc.rel, source.doc.line(*source.base, *path)
        return self.defined_at()

    def defined_at(self) -> tuple[str, int | None]:
        if self.sources:
            last = self.sources[-1]
            return last.doc.rel, last.doc.line(*last.base)
        return self.main_rel, None

    def list_item_where(self, field_name: str, wanted) -> tuple[str, int | None]:
        """Where a list entry (a cap_drop or security_opt item) for which `wanted(item)` holds is written."""
        for source in reversed(self.sources):
            items = source.spec.get(field_name)
            items = [items] if isinstance(items, str) else items if isinstance(items, list) else []
            for index, item in enumerate(items):
                if wanted(go_string(item)):
                    return source.doc.rel, source.doc.line(*source.base, field_name, index)
        return self.where(field_name)

    @property
    def ports(self) -> list[Port]:
        entries = self.spec.get("ports")
        ports = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            identity = _port_identity(entry)
            written, text, rel, line = None, None, *self.where("ports")
            for source in reversed(self.sources):
                raw = source.spec.get("ports")
                for index, item in enumerate(raw if isinstance(raw, list) else []):
                    try:
                        canonical = canonical_ports([item], "ports")
                    except Exception:  # noqa: BLE001 - an entry compose would refuse matches nothing
                        continue
                    if any(_port_identity(c) == identity for c in canonical):
                        written = source.doc.get(*source.base, "ports", index)
                        text = str(item) if not isinstance(item, dict) else None
                        rel, line = source.doc.rel, source.doc.line(*source.base, "ports", index)
                        break
                if written is not None:
                    break
            host_ip, published, target, protocol = identity
            if text is None:
                text = f"{host_ip or '0.0.0.0'}:{published or '<random>'}->{target}" + ("" if protocol == "tcp" else f"/{protocol}")
            ports.append(Port(host_ip or None, published or None, target, protocol, text, written, rel, line))
        return ports

    @property
    def mounts(self) -> list[Mount]:
        found = []
        for volume in self.spec.get("volumes") or []:
            if isinstance(volume, dict) and isinstance(volume.get("target"), str):
                found.append(Mount(volume.get("source"), volume["target"], volume.get("type") == "bind",
                                   bool(volume.get("read_only"))))
        return found

    def host_path(self, container_path: str) -> str | None:
        """The host file a path inside this service's container is, through its bind mounts (None: not mounted)."""
        wanted = os.path.normpath(container_path)
        best = None
        for mount in self.mounts:
            target = os.path.normpath(mount.target)
            if mount.bind and mount.source and (wanted == target or wanted.startswith(target.rstrip("/") + "/")):
                if best is None or len(target) > len(os.path.normpath(best.target)):
                    best = mount
        if best is None:
            return None
        rest = os.path.relpath(wanted, os.path.normpath(best.target))
        return best.source if rest == "." else str(Path(best.source) / rest)

    def option(self, *names: str) -> str | None:
        """The value of a command-line option of what the service runs (`--config X`, `--config=X`)."""
        words = self.argv
        for index, word in enumerate(words):
            for name in names:
                if word == name and index + 1 < len(words):
                    return words[index + 1]
                if word.startswith(name + "="):
                    return word[len(name) + 1:]
        return None


@dataclass
class ComposeView:
    """The effective Compose project: its services and every file that went into it."""

    services: list[Service]
    docs: list  # every compose YAML file read (YamlDoc)
    env_files: list[tuple[str, str]]  # (rel, text) of .env and each env_file
    project_env: dict[str, EnvVar]
    files: list[str]  # the compose files, in order
    source: str  # "docker compose config" or "opsctl's resolver"
    refusal: str | None = None  # why compose refuses the project, when it does
    refusal_where: tuple[str | None, int | None] = (None, None)
    seconds: float = 0.0  # how long `docker compose config` took
    notes: list[str] = field(default_factory=list)
    resolved: bool = True  # False: neither Compose nor our resolver could build the project

    @property
    def rel(self) -> str:
        return self.files[0] if self.files else "docker-compose.yml"

    def service(self, word: str) -> Service | None:
        """The service named `word`, else the first whose image mentions it (for optional extras: rerank, vllm)."""
        for service in self.services:
            if service.name == word:
                return service
        return next((s for s in self.services if word in s.image.lower()), None)

    def by_role(self, role: str) -> list[Service]:
        return [s for s in self.services if s.role == role]

    @property
    def proxies(self) -> list[Service]:
        """Every service that runs the proxy; one named `litellm` first (the one `opsctl restart` means)."""
        found = self.by_role(PROXY)
        return sorted(found, key=lambda s: (s.name != "litellm", s.name))


def from_resolved(services: dict[str, ResolvedService], main_rel: str) -> list[Service]:
    return [Service(name, r.spec, r.sources, r.env, main_rel) for name, r in services.items()]


def from_compose_json(model: dict, ours: dict[str, ResolvedService] | None, main_rel: str) -> list[Service]:
    """Compose's own answer for the values; our resolver's sources for where they are written."""
    services = []
    raw = model.get("services") if isinstance(model.get("services"), dict) else {}
    for name, spec in raw.items():
        spec = dict(spec) if isinstance(spec, dict) else {}
        mine = (ours or {}).get(name)
        if mine:  # `config --format json` drops a service's x-* extension fields; ours keeps them
            spec.update({k: v for k, v in mine.spec.items() if isinstance(k, str) and k.startswith("x-") and k not in spec})
        sources = mine.sources if mine else []
        env = {}
        environment = spec.get("environment") if isinstance(spec.get("environment"), dict) else {}
        for var, value in environment.items():
            if value is None:
                continue  # unset: the container does not get it
            origin = mine.env.get(var) if mine else None
            env[var] = (EnvVar(str(value), origin.path, origin.line, origin.used) if origin
                        else EnvVar(str(value), main_rel, None))
        services.append(Service(str(name), spec, sources, env, main_rel))
    return services
