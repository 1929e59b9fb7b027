"""The stack as it will run, read once and shared by every check.

- Compose: the effective project (opsctl.audit.services): the real
  `docker compose config` when Compose v2 is installed, our own resolver
  (opsctl.audit.compose_resolve) otherwise, and that resolver's sources for
  file:line evidence either way.
- LiteLLM: the config the proxy service loads (`CONFIG_FILE_PATH`, else its
  `--config`), found on the host through the service's bind mounts, with its
  `include:` resolved as LiteLLM resolves it (opsctl.audit.litellm_config);
  `custom_callbacks.py` from beside it, as LiteLLM loads it.
- The operator's ~/.007 and the policy file.

What is missing or refused is collected in `problems`, reported once by the
`stack-files` check; checks whose input is missing SKIP.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsctl.audit import compose_cli, compose_resolve
from opsctl.audit.compose_dotenv import DotenvError, parse_dotenv
from opsctl.audit.compose_resolve import ComposeRefusal, EnvVar
from opsctl.audit.litellm_config import ConfigView, IncludeError, effective_config, resolve_include_file_path
from opsctl.audit.services import ComposeView, Service, from_compose_json, from_resolved
from opsctl.audit.yamldoc import YamlDoc, parse_yaml, read_stack_text
from opsctl.errors import ExitCode, OpsctlError
from opsctl.policy import Policy

DEFAULT_COMPOSE_FILE = "docker-compose.yml"
CONFIG_FILE = "litellm/config.yaml"
CALLBACKS_FILE = "litellm/custom_callbacks.py"
CALLBACKS_MODULE_FILE = "custom_callbacks.py"
DOTENV_FILE = ".env"
IMAGE_WORKDIR = "/app"  # the LiteLLM image's WORKDIR: where a relative --config is looked up


@dataclass(frozen=True)
class Problem:
    """A file that is missing, or a project Compose or LiteLLM would refuse: reported once by `stack-files`."""

    text: str
    path: str | None
    line: int | None
    fix: str


@dataclass(frozen=True)
class StackFiles:
    dir: Path
    compose: ComposeView | None
    config: ConfigView | None
    secrets_path: Path  # ~/.007
    callbacks_path: Path | None  # the host file LiteLLM loads as custom_callbacks (None: not mounted)
    callbacks_rel: str
    policy: Policy
    problems: tuple[Problem, ...] = ()
    dotenv: dict[str, EnvVar] = field(default_factory=dict)  # the stack's .env as Compose reads it
    dotenv_text: str | None = None

    @property
    def proxies(self) -> list[Service]:
        return self.compose.proxies if self.compose else []

    @property
    def proxy(self) -> Service | None:
        """The proxy whose config is audited: the one named litellm, else the first by name."""
        proxies = self.proxies
        return proxies[0] if proxies else None

    @property
    def proxy_env(self) -> dict[str, EnvVar]:
        return self.proxy.env if self.proxy else {}

    def settings(self, section: str) -> dict:
        value = self.config.get(section, default={}) if self.config else {}
        return value if isinstance(value, dict) else {}

    def models(self) -> list[tuple[int, str, dict]]:
        """(index in model_list, model_name, litellm_params) of every well-formed entry."""
        models = as_list(self.config.get("model_list")) if self.config else []
        return [
            (index, m["model_name"], m.get("litellm_params") if isinstance(m.get("litellm_params"), dict) else {})
            for index, m in enumerate(models)
            if isinstance(m, dict) and isinstance(m.get("model_name"), str) and m["model_name"]
        ]

    def model_groups(self) -> set[str]:
        return {name for _, name, _ in self.models()}

    def rel(self, path: Path | str) -> str:
        try:
            return str(Path(path).relative_to(self.dir))
        except ValueError:
            return str(path)


def as_list(value: Any) -> list:
    """A YAML value that should be a list, read leniently (one item, or nothing)."""
    return value if isinstance(value, list) else [] if value is None else [value]


def restore_fix(stack_dir: Path, rel: str) -> str:
    """Commands that put back the reference copy of one stack file and nothing else (init in a scratch directory)."""
    target = shlex.quote(str(stack_dir / rel))
    return f'ref=$(mktemp -d) && opsctl init "$ref/stack" >/dev/null && cp "$ref/stack/{rel}" {target} && rm -r "$ref"'


def _read_dotenv(stack_dir: Path) -> tuple[dict[str, EnvVar], str | None]:
    text = read_stack_text(stack_dir / DOTENV_FILE, DOTENV_FILE)
    if text is None:
        return {}, None
    try:
        assignments = parse_dotenv(text, inherit_from_output=True)
    except DotenvError as error:
        raise OpsctlError(f"{DOTENV_FILE}:{error.line}: not a dotenv file Compose can read: {error}", ExitCode.USAGE) from None
    return {a.name: EnvVar(a.value, DOTENV_FILE, a.line, a.used) for a in assignments}, text


def _compose_view(stack_dir: Path, explicit: str | None, home: Path, use_compose: bool,
                  problems: list[Problem]) -> ComposeView | None:
    reader = compose_resolve.Reader(stack_dir)
    base_env = compose_cli.base_environment(home)
    try:
        project_env = compose_resolve.read_project_env(reader, stack_dir, base_env)
    except ComposeRefusal as error:
        raise OpsctlError(f"{error.rel}:{error.line}: {error.message}", ExitCode.USAGE) from None
    files = compose_resolve.compose_files(reader, stack_dir, project_env, explicit)
    if not files:
        return None
    for path in files:  # parse first: a hostile file is refused before any subprocess starts
        if reader.text(path) is not None:
            reader.yaml(path)
    run = compose_cli.start(stack_dir, explicit, home) if use_compose else None
    resolved, refusal = None, None
    try:
        resolved = compose_resolve.resolve_files(reader, stack_dir, files, project_env, base_env)
    except ComposeRefusal as error:
        refusal = error
    except BaseException:
        if run:
            run.process.kill()
            run.process.wait()
        raise
    answer = run.answer() if run else None
    rels = [reader.rel(path) for path in files]
    main_rel = rels[0]
    docs = [doc for path_docs in reader.docs.values() for doc in path_docs]
    env_files = resolved.env_files if resolved else ([(DOTENV_FILE, reader.texts[stack_dir / DOTENV_FILE])]
                                                     if reader.texts.get(stack_dir / DOTENV_FILE) is not None else [])
    if answer is not None and answer.model is not None:
        services = from_compose_json(answer.model, resolved.services if resolved else None, main_rel)
        source = "docker compose config"
    elif resolved is not None:
        services = from_resolved(resolved.services, main_rel)
        source = "opsctl's resolver"
    else:
        services = []
        source = "nothing (Compose refuses the project)"
    view = ComposeView(services, docs, env_files, project_env, rels, source, seconds=answer.seconds if answer else 0.0,
                       resolved=bool(services) or resolved is not None or (answer is not None and answer.model is not None))
    duplicated = any(doc.duplicates for doc in docs)
    if answer is not None and answer.error is not None:
        if not (duplicated and "already defined" in answer.error):  # duplicate-keys reports those
            view.refusal = answer.error
            view.refusal_where = (refusal.rel, refusal.line) if refusal else (main_rel, None)
    elif refusal is not None and answer is None:
        view.refusal = refusal.message
        view.refusal_where = (refusal.rel or main_rel, refusal.line)
    elif refusal is not None:
        view.notes.append(f"opsctl's own resolver could not follow the files ({refusal.message}): some evidence has no line")
    if view.refusal:
        rel, line = view.refusal_where
        problems.append(Problem(f"docker compose refuses the project: {view.refusal}", rel or main_rel, line,
                                f"fix what compose reports, then check with: docker compose --project-directory {stack_dir} config --quiet"))
    for path, rel in zip(files, rels):
        if reader.texts.get(path) is None and not path.is_file():
            if not any(p.path == rel for p in problems):
                problems.append(Problem(f"{rel} not found", rel, None, f"create {rel}, or remove it from COMPOSE_FILE in {DOTENV_FILE}"))
    return view


def _container_config_path(proxy: Service) -> str | None:
    """Where the proxy reads its config inside the container: CONFIG_FILE_PATH wins over --config."""
    configured = proxy.env.get("CONFIG_FILE_PATH")
    path = configured.value if configured and configured.value else proxy.option("--config", "-c")
    if not path:
        return None
    workdir = proxy.spec.get("working_dir") if isinstance(proxy.spec.get("working_dir"), str) else IMAGE_WORKDIR
    return posixpath.normpath(posixpath.join(workdir, path))


def _load_config(stack_dir: Path, proxy: Service | None, problems: list[Problem]) -> tuple[ConfigView | None, Path | None, str]:
    """The config the proxy loads (includes resolved), and the host path of the custom_callbacks.py beside it."""

    def rel_of(path: Path | str) -> str:
        try:
            return str(Path(path).relative_to(stack_dir))
        except ValueError:
            return str(path)

    if proxy is None:
        host, container, to_host = stack_dir / CONFIG_FILE, None, None
    else:
        container = _container_config_path(proxy)
        if container is None:
            rel, line = proxy.where("command")
            problems.append(Problem(f"service {proxy.name} runs the proxy without a config file (no --config, no CONFIG_FILE_PATH)",
                                    rel, line, f'run it with command: ["--config", "/app/config.yaml"] and mount ./{CONFIG_FILE} there'))
            return None, None, CALLBACKS_FILE
        mapped = proxy.host_path(container)
        if mapped is None:
            rel, line = proxy.where("volumes")
            problems.append(Problem(f"service {proxy.name} reads {container}, which no bind mount provides (the audit cannot see it)",
                                    rel, line, f"mount the config from the stack: volumes: [./{CONFIG_FILE}:{container}:ro]"))
            return None, None, CALLBACKS_FILE
        host, to_host = Path(mapped), proxy.host_path
    rel = rel_of(host)
    if container is None:
        callbacks_host, callbacks_rel = stack_dir / CALLBACKS_FILE, CALLBACKS_FILE
    else:  # LiteLLM loads custom_callbacks.py from beside the config, in the container
        callbacks_container = posixpath.join(posixpath.dirname(container), CALLBACKS_MODULE_FILE)
        mapped_callbacks = to_host(callbacks_container)
        callbacks_host = Path(mapped_callbacks) if mapped_callbacks else None
        callbacks_rel = rel_of(callbacks_host) if callbacks_host else callbacks_container
    if host.is_dir() and not host.is_symlink():
        problems.append(Problem(f"{rel} is a directory, not a config (Compose makes one when a bind-mounted file is missing): "
                                "the proxy would run without its config", rel, None,
                                f"rmdir {shlex.quote(str(host))} && " + restore_fix(stack_dir, rel)))
        return None, callbacks_host, callbacks_rel
    text = read_stack_text(host, rel)
    if text is None:
        mounted = f" (mounted at {container} in service {proxy.name})" if proxy else ""
        problems.append(Problem(f"{rel} not found{mounted}", rel, None, restore_fix(stack_dir, rel)))
        return None, callbacks_host, callbacks_rel
    root = parse_yaml(text, rel)

    def host_of(location: str) -> Path | None:
        if to_host is None:
            return Path(location)
        mapped = to_host(location)
        return Path(mapped) if mapped else None

    def exists(location: str) -> bool:
        path = host_of(location)
        return path is not None and path.is_file()

    def read(location: str) -> YamlDoc:
        path = host_of(location)
        shown = rel_of(path) if path else location
        text = read_stack_text(path, shown) if path else None
        if text is None:
            where = f"{location} in the container, not mounted from the stack" if path is None else shown
            raise IncludeError(f"included file not found: {where} (LiteLLM refuses to start)")
        try:
            return parse_yaml(text, shown)
        except OpsctlError as error:
            if "not a mapping" not in error.message:
                raise
        if not _pyyaml_value(text):  # LiteLLM reads an include with `yaml.safe_load(file) or {}`
            return YamlDoc(shown, {}, {}, text)
        raise IncludeError(f"included config file is not a YAML mapping: {shown} (LiteLLM refuses to start)")

    location = container or str(host)
    try:
        config = effective_config(root, location, lambda entry, declared: resolve_include_file_path(entry, declared, location, exists), read)
    except IncludeError as error:
        problems.append(Problem(str(error), rel, root.line("include"), f"fix the include: list at {rel}:{root.line('include')}"))
        return None, callbacks_host, callbacks_rel
    return config, callbacks_host, callbacks_rel


def _pyyaml_value(text: str) -> Any:
    """The top-level value as LiteLLM's yaml.safe_load gives it (the document was already parsed once, so this is safe)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_stack(stack_dir: Path, policy: Policy, home: Path, compose_file: str = DEFAULT_COMPOSE_FILE,
               use_compose: bool = True) -> StackFiles:
    """Everything the checks read; `use_compose=False` uses only our resolver (as when Compose is not installed)."""
    stack_dir = Path(stack_dir)
    if not stack_dir.is_dir():
        raise OpsctlError(f"no such stack directory: {stack_dir}", ExitCode.USAGE)
    explicit = None if compose_file == DEFAULT_COMPOSE_FILE else compose_file
    problems: list[Problem] = []
    dotenv, dotenv_text = _read_dotenv(stack_dir)
    compose = _compose_view(stack_dir, explicit, home, use_compose, problems)
    if compose is None and not (stack_dir / CONFIG_FILE).exists() and not (stack_dir / CONFIG_FILE).is_symlink():
        raise OpsctlError(
            f"not a stack directory: {stack_dir} has neither {compose_file} nor {CONFIG_FILE} (create one: opsctl init {stack_dir})",
            ExitCode.USAGE,
        )
    if compose is None:
        problems.append(Problem(f"{compose_file} not found", compose_file, None, restore_fix(stack_dir, compose_file)))
    proxy = compose.proxies[0] if compose and compose.proxies else None
    if compose is not None and proxy is None and compose.services:
        problems.append(Problem("no service runs the LiteLLM proxy (a LiteLLM image, or a command that runs litellm)",
                                compose.rel, None, "add the litellm service of the reference stack (opsctl init writes it)"))
    config, callbacks_path, callbacks_rel = _load_config(stack_dir, proxy, problems)
    return StackFiles(stack_dir, compose, config, home / ".007", callbacks_path, callbacks_rel, policy,
                      tuple(problems), dotenv, dotenv_text)
