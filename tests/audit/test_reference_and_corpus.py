"""The reference stack passes; each broken variant fails exactly the check it breaks."""

import re

import pytest

from opsctl.audit.registry import CHECKS, Needs
from opsctl.audit.runner import run_checks
from opsctl.audit.stackfiles import load_stack
from opsctl.policy import load_policy
from tests.audit.mutations import MUTATIONS
from tests.audit.stacks import failing, init_stack, run_audit, statuses


def test_a_stack_written_by_init_passes_with_no_fail(tmp_path):
    stack = init_stack(tmp_path / "stack")
    result, data = run_audit("audit", str(stack), "--json")
    assert result.exit_code == 0, result.output
    assert failing(data) == set()
    seen = statuses(data)
    assert seen["public-routes"] == "SKIP" and seen["model-timeouts"] == "SKIP"
    assert {c.id for c in CHECKS} == set(seen)
    assert result.stderr.strip().splitlines()[-1].startswith("audit: ")


def test_a_stack_of_three_replicas_written_by_init_passes_with_no_fail_and_no_warn(tmp_path, isolated_env):
    stack = init_stack(tmp_path / "stack", replicas=3)
    code, real = audit(stack, isolated_env, "compose")
    _, builtin = audit(stack, isolated_env, "builtin")
    assert code == 0 and failing(real) == set(), [c for c in real["checks"] if c["status"] == "FAIL"]
    assert {c["check"] for c in real["checks"] if c["status"] == "WARN"} == set()
    assert statuses(builtin) == statuses(real)
    replicas = {c["check"]: c for c in real["checks"] if c["check"].startswith("replicas-")}
    assert {name: c["status"] for name, c in replicas.items()} == dict.fromkeys(
        ("replicas-rate-limits", "replicas-router-state", "replicas-lb-readiness", "replicas-only-lb-published"), "PASS")
    assert replicas["replicas-lb-readiness"]["evidence"][0]["path"] == "haproxy/haproxy.cfg"
    # One proxy: the same checks pass, saying why there is nothing to check.
    _, single = run_audit("audit", str(init_stack(tmp_path / "single")), "--json")
    assert all(c["status"] == "PASS" and "one proxy service (litellm)" in c["evidence"][0]["text"]
               for c in single["checks"] if c["check"].startswith("replicas-"))


def test_the_table_groups_checks_by_runbook_section(tmp_path):
    stack = init_stack(tmp_path / "stack")
    result, _ = run_audit("audit", str(stack))
    assert result.exit_code == 0
    order = [result.stdout.index(section) for section in ("Boundaries", "Logging/Privacy", "DB / Config",
                                                           "Routing & Availability", "Tooling")]
    assert order == sorted(order)
    assert "ports-loopback" in result.stdout and "FAIL" not in result.stdout


def audit(stack, home, resolver: str):
    """The report as `opsctl audit --json` gives it: through the CLI and the real compose, or with our own resolver only."""
    if resolver == "compose":
        result, data = run_audit("audit", str(stack), "--json")
        return result.exit_code, data
    report = run_checks(load_stack(stack, load_policy(), home, use_compose=False))
    return report.exit_code(), report.to_json()


@pytest.mark.parametrize("resolver", ["compose", "builtin"])
@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_a_broken_promise_fails_exactly_its_check(tmp_path, isolated_env, mutation, resolver):
    stack = init_stack(tmp_path / "stack", mutation.replicas)
    mutation.apply(stack, isolated_env)
    exit_code, data = audit(stack, isolated_env, resolver)
    broken = next(c for c in data["checks"] if c["check"] == mutation.check)
    if mutation.status == "WARN":
        assert failing(data) == set() and exit_code == 0
        assert {c["check"] for c in data["checks"] if c["status"] == "WARN"} == {mutation.check}
    else:
        assert failing(data) == {mutation.check}, broken
        assert exit_code == 1
    assert broken["evidence"] and all(e["path"] for e in broken["evidence"]), broken
    # Evidence in a YAML file that exists names its line (a missing file has none).
    assert all(e["line"] for e in broken["evidence"] if e["path"].endswith((".yml", ".yaml")) and (stack / e["path"]).exists()), broken
    assert broken["fix"] and "\n" not in broken["fix"]
    if mutation.fix:
        assert broken["fix"].startswith(mutation.fix.replace("STACK", str(stack))), broken["fix"]
    assert_fix_is_not_already_there(stack, broken["fix"])


SET_AT = re.compile(r"\bset (?P<key>[\w.-]+)(?P<sep>: |=)(?P<value>.+?) at (?P<path>[\w./-]+):(?P<line>\d+)")


def assert_fix_is_not_already_there(stack, fix: str) -> None:
    """A fix never names a line that already holds it: `set KEY: VALUE at FILE:LINE` means that line says otherwise."""
    for match in SET_AT.finditer(fix):
        line = (stack / match["path"]).read_text().splitlines()[int(match["line"]) - 1]
        wanted = f"{match['key']}{match['sep']}{match['value']}"
        assert wanted not in line and wanted.replace('"', "") not in line.replace("'", "").replace('"', ""), (fix, line)


def test_every_file_check_has_a_broken_variant():
    file_checks = {c.id for c in CHECKS if c.needs is Needs.FILES}
    assert file_checks == {m.check for m in MUTATIONS}


def test_the_reference_stack_passes_with_our_resolver_alone_too(tmp_path, isolated_env):
    """As on a machine without Compose v2: no FAIL, no WARN, and the same verdicts as with the real compose."""
    stack = init_stack(tmp_path / "stack")
    code, builtin = audit(stack, isolated_env, "builtin")
    _, real = audit(stack, isolated_env, "compose")
    assert code == 0 and failing(builtin) == set()
    assert {c["check"] for c in builtin["checks"] if c["status"] == "WARN"} == set()
    assert statuses(builtin) == statuses(real)


def test_strict_counts_warnings(tmp_path):
    stack = init_stack(tmp_path / "stack")
    from tests.audit.stacks import edit_config

    edit_config(stack, lambda c: c["router_settings"].pop("routing_strategy"))  # LiteLLM's default: a WARN
    result, data = run_audit("audit", str(stack), "--json")
    assert statuses(data)["routing-strategy"] == "WARN" and result.exit_code == 0
    strict, _ = run_audit("audit", str(stack), "--json", "--strict")
    assert strict.exit_code == 1


def test_dir_defaults_to_the_stack_dir_setting(tmp_path):
    stack = init_stack(tmp_path / "stack")
    result, data = run_audit("--stack-dir", str(stack), "audit", "--json")
    assert result.exit_code == 0
    assert data["stack_dir"] == str(stack) and data["summary"]["FAIL"] == 0
