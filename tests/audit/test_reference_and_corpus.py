"""The reference stack passes; each broken variant fails exactly the check it breaks."""

import pytest

from opsctl.audit.registry import CHECKS, Needs
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


def test_the_table_groups_checks_by_runbook_section(tmp_path):
    stack = init_stack(tmp_path / "stack")
    result, _ = run_audit("audit", str(stack))
    assert result.exit_code == 0
    order = [result.stdout.index(section) for section in ("Boundaries", "Logging/Privacy", "DB / Config",
                                                           "Routing & Availability", "Tooling")]
    assert order == sorted(order)
    assert "ports-loopback" in result.stdout and "FAIL" not in result.stdout


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_a_broken_promise_fails_exactly_its_check(tmp_path, isolated_env, mutation):
    stack = init_stack(tmp_path / "stack")
    mutation.apply(stack, isolated_env)
    result, data = run_audit("audit", str(stack), "--json")
    assert failing(data) == {mutation.check}
    assert result.exit_code == 1
    broken = next(c for c in data["checks"] if c["check"] == mutation.check)
    assert broken["evidence"] and all(e["path"] for e in broken["evidence"]), broken
    assert all(e["line"] for e in broken["evidence"] if e["path"].endswith((".yml", ".yaml"))), broken
    assert broken["fix"] and "\n" not in broken["fix"]
    if mutation.fix:
        assert broken["fix"].startswith(mutation.fix.replace("STACK", str(stack))), broken["fix"]


def test_every_file_check_has_a_broken_variant():
    file_checks = {c.id for c in CHECKS if c.needs is Needs.FILES}
    assert file_checks == {m.check for m in MUTATIONS}


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
