"""config.yaml `include:` resolved as LiteLLM 1.108.7 resolves it: our mirror against LiteLLM's own ProxyConfig._process_includes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from opsctl.audit.litellm_config import IncludeError, effective_config, resolve_include_file_path
from opsctl.audit.yamldoc import YamlDoc, parse_yaml
from opsctl.errors import OpsctlError

GENERAL = "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  ui_access_mode: admin_only\n  disable_error_logs: true\n"

# (name, files, the root config): each file's text, paths relative to the case directory.
CORPUS = [
    ("include-replaces-general-settings-wholesale", {
        "config.yaml": GENERAL + "include: [open.yaml]\n",
        "open.yaml": "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  ui_access_mode: all\n",
    }),
    ("model-lists-are-extended", {
        "config.yaml": "model_list:\n  - model_name: a\ninclude: [more.yaml]\n",
        "more.yaml": "model_list:\n  - model_name: b\n  - model_name: c\n",
    }),
    ("nested-include-next-to-the-declaring-file", {
        "config.yaml": "include: [sub/a.yaml]\n",
        "sub/a.yaml": "include: [b.yaml]\na: 1\n",
        "sub/b.yaml": "b: from-sub\n",
    }),
    ("nested-include-falls-back-next-to-the-root", {
        "config.yaml": "include: [sub/a.yaml]\n",
        "sub/a.yaml": "include: [c.yaml]\n",
        "c.yaml": "c: from-root\n",
    }),
    ("nested-include-both-exist-the-declaring-side-wins", {
        "config.yaml": "include: [sub/a.yaml]\n",
        "sub/a.yaml": "include: [d.yaml]\n",
        "sub/d.yaml": "d: from-sub\n",
        "d.yaml": "d: from-root\n",
    }),
    ("breadth-first-order", {
        "config.yaml": "include: [a.yaml, b.yaml]\nx: root\n",
        "a.yaml": "include: [c.yaml]\nx: a\nlist: [a]\n",
        "b.yaml": "x: b\nlist: [b]\n",
        "c.yaml": "x: c\nlist: [c]\n",
    }),
    ("a-cycle-is-read-once", {
        "config.yaml": "include: [a.yaml]\nroot: 1\n",
        "a.yaml": "include: [config.yaml, a.yaml]\na: 1\n",
    }),
    ("the-same-file-twice", {
        "config.yaml": "include: [a.yaml, ./a.yaml]\nlist: [root]\n",
        "a.yaml": "list: [a]\n",
    }),
    ("a-null-replaces", {
        "config.yaml": "router_settings: {routing_strategy: simple-shuffle}\ninclude: [a.yaml]\n",
        "a.yaml": "router_settings:\n",
    }),
    ("an-empty-include", {
        "config.yaml": "x: 1\ninclude: [empty.yaml]\n",
        "empty.yaml": "# nothing here\n",
    }),
    ("include-is-not-a-list", {
        "config.yaml": "include: a.yaml\n",
        "a.yaml": "a: 1\n",
    }),
    ("include-entry-is-not-a-string", {
        "config.yaml": "include: [a.yaml, 5]\n",
        "a.yaml": "a: 1\n",
    }),
    ("included-file-missing", {
        "config.yaml": "include: [missing.yaml]\n",
    }),
    ("included-file-is-a-list", {
        "config.yaml": "include: [list.yaml]\n",
        "list.yaml": "- a\n- b\n",
    }),
    ("nested-include-is-not-a-list", {
        "config.yaml": "include: [a.yaml]\n",
        "a.yaml": "include: {b: c}\n",
    }),
]


def _write(directory: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(text)
    return directory / "config.yaml"


def litellms(config_path: Path):
    """LiteLLM's own answer: the merged config, or the kind of error it raises (the proxy does not start)."""
    import yaml
    from litellm.proxy.proxy_server import ProxyConfig

    config = yaml.safe_load(config_path.read_text())
    try:
        return asyncio.run(ProxyConfig()._process_includes(config=config, config_file_path=str(config_path)))
    except Exception:  # noqa: BLE001 - any error means the proxy does not start; that is what is compared
        return "refused"


def ours(config_path: Path):
    def read(location: str) -> YamlDoc:
        path = Path(location)
        if not path.is_file():
            raise IncludeError(f"included file not found: {location}")
        try:
            return parse_yaml(path.read_text(), location)
        except OpsctlError as error:
            import yaml

            if "not a mapping" in error.message and not yaml.safe_load(path.read_text()):
                return YamlDoc(location, {}, {}, "")
            raise IncludeError(str(error)) from None

    location = str(config_path)
    root = parse_yaml(config_path.read_text(), "config.yaml")
    try:
        view = effective_config(root, location, lambda entry, declared: resolve_include_file_path(entry, declared, location), read)
    except IncludeError:
        return "refused"
    return view.data


@pytest.mark.parametrize("name, files", CORPUS, ids=[name for name, _ in CORPUS])
def test_includes_resolve_as_litellm_resolves_them(tmp_path, name, files):
    config = _write(tmp_path, files)
    assert ours(config) == litellms(config)


def test_the_mirror_is_litellms_function_on_the_corpus_paths(tmp_path):
    """resolve_include_file_path against LiteLLM's, for each entry shape the corpus uses."""
    from litellm.proxy.common_utils.config_includes import resolve_include_file_path as theirs

    _write(tmp_path, {"config.yaml": "", "sub/a.yaml": "", "sub/d.yaml": "", "d.yaml": "", "c.yaml": ""})
    root = str(tmp_path / "config.yaml")
    for entry, declared in [("a.yaml", root), ("sub/a.yaml", root), ("c.yaml", str(tmp_path / "sub/a.yaml")),
                            ("d.yaml", str(tmp_path / "sub/a.yaml")), ("../d.yaml", str(tmp_path / "sub/a.yaml")),
                            ("/abs/x.yaml", root), ("missing.yaml", str(tmp_path / "sub/a.yaml"))]:
        assert resolve_include_file_path(entry, declared, root) == theirs(entry, declared, root), (entry, declared)


def test_evidence_names_the_included_file_and_line(tmp_path):
    name, files = CORPUS[0]
    config = _write(tmp_path, files)
    root = parse_yaml(config.read_text(), "config.yaml")
    location = str(config)

    def read(loc):
        return parse_yaml(Path(loc).read_text(), Path(loc).name)

    view = effective_config(root, location, lambda e, d: resolve_include_file_path(e, d, location), read)
    assert view.get("general_settings", "ui_access_mode") == "all"
    assert "disable_error_logs" not in view.get("general_settings")
    assert view.where("general_settings", "ui_access_mode") == ("open.yaml", 3)
    assert view.where("general_settings") == ("open.yaml", 1)


def test_list_provenance_follows_each_file(tmp_path):
    config = _write(tmp_path, dict(CORPUS[1][1]))
    root = parse_yaml(config.read_text(), "config.yaml")
    location = str(config)
    view = effective_config(root, location, lambda e, d: resolve_include_file_path(e, d, location),
                            lambda loc: parse_yaml(Path(loc).read_text(), Path(loc).name))
    assert [m["model_name"] for m in view.get("model_list")] == ["a", "b", "c"]
    assert view.where("model_list", 0, "model_name") == ("config.yaml", 2)
    assert view.where("model_list", 2, "model_name") == ("more.yaml", 3)
