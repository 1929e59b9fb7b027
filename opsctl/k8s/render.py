"""`opsctl init DIR --target k8s`: the kustomize base (and its overlays) with the
LiteLLM config rendered from the compose stack's template and the policy file.

Secrets are never written: the manifests name them, and kustomization.yaml
carries the `kubectl create secret` command that makes them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.policy import Policy
from opsctl.stack.render import CONFIG, PlannedFile, render_config, template_files

REPLICAS_MARK = "REPLICAS"


def k8s_template_files() -> dict[str, str]:
    """The packaged manifests, by path relative to DIR."""
    found: dict[str, str] = {}

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith((".yaml", ".md")):
                found[f"{prefix}{child.name}"] = child.read_text()

    walk(resources.files("opsctl").joinpath("k8s/template"), "")
    return found


def render_k8s(policy: Policy, replicas: int) -> dict[str, str]:
    """Every file of the k8s target, rendered; the config is the compose stack's, not a copy."""
    if replicas < 1:
        raise OpsctlError("--replicas must be at least 1", ExitCode.USAGE)
    files = k8s_template_files()
    files["base/kustomization.yaml"] = files["base/kustomization.yaml"].replace(
        f"count: {REPLICAS_MARK}", f"count: {replicas}")
    stack = template_files()
    files["base/config.yaml"] = render_config(stack[CONFIG], policy)
    files["base/custom_callbacks.py"] = stack["litellm/custom_callbacks.py"]
    return files


def plan_k8s(directory: Path, policy: Policy, replicas: int = 2, force: bool = False) -> list[PlannedFile]:
    """What init would write into DIR; raises before any write on a clash without force."""
    plan = []
    for relative, content in sorted(render_k8s(policy, replicas).items()):
        path = directory / relative
        if path.is_symlink():
            raise OpsctlError(f"refusing to write through the symlink {path}", ExitCode.REFUSED)
        exists = path.exists()
        action = "keep" if exists and path.read_text() == content else "overwrite" if exists else "create"
        plan.append(PlannedFile(relative, content, 0o644, action))
    clashes = [p.relative for p in plan if p.action == "overwrite"]
    if clashes and not force:
        raise OpsctlError(f"refusing to overwrite {', '.join(clashes)} in {directory} (use --force)", ExitCode.REFUSED)
    return plan


def init_k8s(directory: Path, policy: Policy, replicas: int, *, force: bool, dry_run: bool, as_json: bool,
             compose_only: bool = False) -> None:
    """The whole of `opsctl init --target k8s`: plan, write (unless dry_run), say what was done."""
    from opsctl.output import emit_json, status
    from opsctl.stack.render import write_plan

    if compose_only:
        raise OpsctlError("--diff and --upgrade work with --target compose only", ExitCode.USAGE)
    plan = plan_k8s(directory, policy, replicas, force=force)
    if not dry_run:
        write_plan(directory, plan)
    if as_json:
        emit_json({"directory": str(directory), "dry_run": dry_run,
                   "files": [{"path": p.relative, "action": p.action} for p in plan]})
        return
    for planned in plan:
        status(f"{'would ' + planned.action if dry_run else planned.action}: {directory / planned.relative}")
    if not dry_run:
        status(f"next: create the Secrets (see {directory / 'base/kustomization.yaml'}), "
               f"then `kubectl apply -k {directory / 'base'}`")
