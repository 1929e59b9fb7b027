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


def _litellm_sources_mentioning(word: str) -> list[str]:
    from importlib import metadata

    dist = metadata.distribution("litellm")
    return [str(f) for f in dist.files if str(f).endswith(".py") and word in dist.locate_file(f).read_text(errors="replace")]


def test_the_doc_is_right_that_litellm_ignores_disable_adding_master_key_hash_to_db():
    """docs/audit.md says the runbook's flag is inert in the pinned LiteLLM; when LiteLLM reads it again, this fails."""
    assert "LiteLLM 1.108.7 no longer reads `disable_adding_master_key_hash_to_db`" in DOC.read_text()
    assert _litellm_sources_mentioning("disable_adding_master_key_hash_to_db") == []
    # The same scan does find its sibling flag, which LiteLLM does read.
    assert "litellm/proxy/management_endpoints/internal_user_endpoints.py" in _litellm_sources_mentioning("disable_master_key_return")
