"""Stack files: what the audit reads exists and Compose and LiteLLM accept it; no YAML key is written twice."""

from __future__ import annotations

from opsctl.audit.registry import Evidence, Result, Status, check, worst
from opsctl.audit.stackfiles import StackFiles

SECTION = "Stack files"


@check("stack-files", section=SECTION,
       runbook=("(audit) Every promise is checked on the stack as it will run: the files Compose reads "
                "(COMPOSE_FILE, overrides, extends, include), and the config the proxy service loads with its includes. "
                "A missing file or a project Compose or LiteLLM refuses is reported here, once."),
       fix="restore the missing file (opsctl init --force DIR writes the reference stack; .env keeps its values)")
def stack_files(files: StackFiles) -> Result:
    if files.problems:
        findings = [(Status.FAIL, Evidence(p.text, p.path, p.line)) for p in files.problems]
        return worst(findings, fix="; ".join(dict.fromkeys(p.fix for p in files.problems)))
    compose = files.compose
    parts = []
    if compose is not None:
        parts.append(f"compose: {' + '.join(compose.files)} (read by {compose.source}), {len(compose.services)} services")
        parts += compose.notes
    if files.config is not None:
        proxy = files.proxy
        reads = f"{proxy.name} reads {files.config.container_path} = " if proxy and files.config.container_path else ""
        included = [doc.rel for doc in files.config.docs[1:]]
        parts.append(f"config: {reads}{files.config.rel}" + (f" + {', '.join(included)}" if included else ""))
    return worst([(Status.PASS, Evidence(part, compose.rel if compose else None)) for part in parts]
                 or [(Status.PASS, Evidence("nothing to read"))])


@check("duplicate-keys", section=SECTION,
       runbook=("(hardening) A key written twice in one mapping is ambiguous: Compose refuses the file, LiteLLM "
                "(PyYAML) silently keeps the last one, so the first one reviewers read is not the one that runs."),
       fix="keep one of the two keys (merge their values)")
def duplicate_keys(files: StackFiles) -> Result:
    docs = (files.compose.docs if files.compose else []) + (files.config.docs if files.config else [])
    compose_rels = {doc.rel for doc in files.compose.docs} if files.compose else set()
    findings, fixes = [], []
    for doc in docs:
        for dup in doc.duplicates:
            where = ".".join(map(str, dup.path)) or "the top level"
            effect = "Compose refuses the file" if doc.rel in compose_rels else "LiteLLM keeps only this one"
            findings.append((Status.FAIL, Evidence(f"{dup.key} is written twice in {where} (first at line {dup.first_line}): "
                                                   f"{effect}", doc.rel, dup.line)))
            fixes.append(f"keep one {dup.key}: of {doc.rel}:{dup.first_line} and {doc.rel}:{dup.line}")
    if not findings:
        return worst([(Status.PASS, Evidence(f"no key written twice in {', '.join(d.rel for d in docs) or 'any file'}"))])
    return worst(findings, fix="; ".join(fixes))
