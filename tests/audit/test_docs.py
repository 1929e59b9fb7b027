"""docs/audit.md lists every registered check with its runbook line."""

from pathlib import Path

from opsctl.audit.registry import CHECKS

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def test_the_doc_lists_every_check_and_its_runbook_line():
    text = DOC.read_text()
    for registered in CHECKS:
        assert f"`{registered.id}`" in text, registered.id
        assert registered.runbook in text, registered.id


def test_every_check_has_a_fix_and_a_distinct_id():
    assert len({c.id for c in CHECKS}) == len(CHECKS)
    assert all(c.fix and "\n" not in c.fix for c in CHECKS)
