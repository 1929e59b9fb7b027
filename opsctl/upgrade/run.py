"""The upgrade's steps, each reported, and the rollback when one fails.

preflight -> backup (`opsctl backup create`) -> pin (LITELLM_IMAGE in the
stack's .env, the old value kept) -> migrate (the migrate service, recreated on
the new image, run once) -> restart (the proxy recreated on the new image,
waited for; on a replicas stack litellm-1..N recreated one at a time behind the
LB, as `restart litellm --rolling` restarts them) -> smoke (the proxy's own
readiness with the database connected, each replica's too; every proxy
container on the new image, the master key accepted, every migration of the
image in the ledger). When pin, migrate, restart or smoke fails: the old image
goes back in .env; if the schema moved (ledger rows or schema fingerprint
differ from before the migrate), the proxy (every replica) is stopped and the
database restored from the backup; the proxy is recreated on the old image
(replicas: one at a time again) and must be ready again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from opsctl.errors import ExitCode, OpsctlError
from opsctl.output import status
from opsctl.settings import Settings
from opsctl.upgrade import ledger as ledger_module
from opsctl.upgrade.plan import Preflight, compare, database_size, free_space
from opsctl.upgrade.target import IMAGE_VARIABLE, MIGRATE_SERVICE, ImageFacts, image_facts

DEFAULT_IMAGE = "ghcr.io/berriai/litellm-database:main-v1.108.7"  # the template's ${LITELLM_IMAGE:-...}
PROXY_SERVICE = "litellm"
SMOKE_REQUEST_SECONDS = 10.0
MIGRATE_LOG_LINES = 400  # read for the failed migration (LiteLLM logs a traceback and more after it)


@dataclass
class Step:
    name: str
    status: str  # ok, failed, skipped, undone
    detail: str
    seconds: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Report:
    preflight: Preflight
    facts: ImageFacts
    steps: list[Step] = field(default_factory=list)
    outcome: str = "planned"  # planned, upgraded, unchanged, rolled back, rollback failed, failed
    backup: Path | None = None
    record: Path | None = None

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "preflight": self.preflight.to_json(), "target": self.facts.to_json(),
                "backup": str(self.backup) if self.backup else None, "record": str(self.record) if self.record else None,
                "steps": [s.to_json() for s in self.steps]}

    def run(self, name: str, action: Callable[[], str]) -> str:
        """Run one step, record and announce it; a failure is recorded and re-raised."""
        started = time.monotonic()
        status(f"{name}: ...")
        try:
            detail = action()
        except OpsctlError as error:
            self.steps.append(Step(name, "failed", error.message, round(time.monotonic() - started, 1)))
            status(f"{name}: FAILED: {error.message}")
            raise
        self.steps.append(Step(name, "ok", detail, round(time.monotonic() - started, 1)))
        status(f"{name}: ok ({detail})")
        return detail


def _stack_env(settings: Settings):
    from opsctl.secrets.stackenv import StackEnv

    return StackEnv.load(settings)


def proxy_services(settings: Settings) -> tuple[str, ...]:
    """litellm, or litellm-1..N on a stack `init --replicas N` wrote (OPSCTL_REPLICAS in its .env)."""
    from opsctl.replicas.stack import configured_replicas

    return tuple(configured_replicas(settings.replicas)) or (PROXY_SERVICE,)


def running_images(settings: Settings) -> dict[str, str | None]:
    """Each proxy service's image, as its containers run it (several: all of them, named; none: None)."""
    from opsctl.stack.compose import project_name
    from opsctl.stack.engine import connect, project_containers

    services = proxy_services(settings)
    found: dict[str, set[str]] = {service: set() for service in services}
    for state in project_containers(connect(), project_name(settings), services):
        found[state.service].add(state.image)
    return {service: ", ".join(sorted(images)) or None for service, images in found.items()}


def recreate_proxies(settings: Settings, timeout: float) -> str:
    """The proxy on what .env names now: replicas one at a time behind the LB (no downtime), else recreated."""
    from opsctl.secrets.proxy import recreate_proxy
    from opsctl.stack.replicas import rolling_restart_stack

    services = proxy_services(settings)
    if services == (PROXY_SERVICE,):
        recreate_proxy(settings, timeout)
        return PROXY_SERVICE
    rolling_restart_stack(settings, timeout, progress=lambda line: status(f"  {line}"), recreate=True)
    return f"{len(services)} replicas, one at a time,"


def preflight(settings: Settings, database_url: str, target_image: str, backup_dir: Path) -> tuple[Preflight, ImageFacts]:
    """Read everything the plan needs; writes nothing."""
    from opsctl.db.connection import connect

    if IMAGE_VARIABLE in os.environ:
        raise OpsctlError(f"{IMAGE_VARIABLE} is set in the environment, and it wins over .env for compose: "
                          "unset it so the pinned image is the one that runs", ExitCode.USAGE)
    pinned = _stack_env(settings).get(IMAGE_VARIABLE)
    current = pinned or next((i for i in running_images(settings).values() if i), None) or DEFAULT_IMAGE
    with connect(database_url) as connection:
        found = ledger_module.read_ledger(connection)
        size = database_size(connection)
    facts = image_facts(settings, target_image)
    return compare(current, target_image, facts.migrations, found, size, free_space(backup_dir)), facts


def _wait_for_migrate(settings: Settings, timeout: float) -> str:
    from opsctl.stack.compose import project_name
    from opsctl.redact import safe_text
    from opsctl.stack.engine import connect, log_tail, project_containers
    from opsctl.upgrade.migrate_log import failure_summary

    client, project = connect(), project_name(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = project_containers(client, project, (MIGRATE_SERVICE,))
        done = [s for s in states if s.state in ("exited", "dead")]
        if done:
            if done[0].exit_code == 0:
                return f"{MIGRATE_SERVICE} exited 0"
            log = log_tail(client, done[0].id, MIGRATE_LOG_LINES)
            tail = [line for line in log[-20:] if line.strip()]
            for line in tail:
                status(f"  {MIGRATE_SERVICE}: {line}")
            why = failure_summary(log) or (tail[-1] if tail else None)
            raise OpsctlError(f"the {MIGRATE_SERVICE} service exited {done[0].exit_code}"
                              + (f": {safe_text(why, limit=300)}" if why else ""), ExitCode.FAILED)
        time.sleep(1)
    raise OpsctlError(f"the {MIGRATE_SERVICE} service did not finish within {timeout:g} s", ExitCode.TIMEOUT)


def _each_replica_ready(settings: Settings, replicas: tuple[str, ...]) -> None:
    """Every replica, pinned through the LB (smoke.replicas), ready with the database connected."""
    import asyncio

    from opsctl.smoke.deadline import command_deadline
    from opsctl.smoke.replicas import check_replicas

    async def run():
        return await check_replicas(settings, list(replicas), True, command_deadline(SMOKE_REQUEST_SECONDS * 2, settings))

    failed = [check for check in asyncio.run(run()) if not check.passed]
    if failed:
        raise OpsctlError("; ".join(f"{c.target} {c.route}: {c.detail}" for c in failed), ExitCode.FAILED)


def _smoke(settings: Settings, database_url: str, facts: ImageFacts, master_key: str) -> str:
    import httpx

    from opsctl.admin.client import ProxyClient
    from opsctl.db.connection import connect

    # The proxy's own readiness, never the separate health app's (OPSCTL_HEALTH_URL): that process has
    # no database client, so it cannot say whether the proxy's database is connected (docs/images.md).
    url = settings.proxy_base_url().rstrip("/") + "/health/readiness"
    try:
        answer = httpx.get(url, timeout=SMOKE_REQUEST_SECONDS).json()
    except (httpx.HTTPError, ValueError) as error:
        raise OpsctlError(f"{url}: {type(error).__name__}", ExitCode.FAILED) from None
    if not isinstance(answer, dict) or answer.get("status") != "healthy" or answer.get("db") != "connected":
        raise OpsctlError(f"{url} answered {str(answer)[:200]}, not healthy with the database connected", ExitCode.FAILED)
    # The deadline counts from now: the steps before the smoke may have taken minutes.
    fresh = dataclasses.replace(settings, master_key=master_key, started_at=time.monotonic())
    services = proxy_services(settings)
    if services != (PROXY_SERVICE,):
        _each_replica_ready(fresh, services)
    wrong = {service: image for service, image in running_images(settings).items() if image != facts.image}
    if wrong:
        raise OpsctlError("; ".join(f"{service} runs {image or 'no container'}" for service, image in wrong.items())
                          + f", not {facts.image}", ExitCode.FAILED)
    with ProxyClient(fresh) as client:
        models = client.get("/model/info")
    with connect(database_url) as connection:
        found = ledger_module.read_ledger(connection)
    missing = sorted(set(facts.migrations) - set(found.applied))
    if missing or found.problems:
        raise OpsctlError(f"the ledger is incomplete after the migrate: {len(missing)} not applied"
                          + (f" (first {missing[0]})" if missing else "") + (f", {len(found.problems)} failed" if found.problems else ""),
                          ExitCode.FAILED)
    ready = "ready" if services == (PROXY_SERVICE,) else f"{len(services)} replicas ready"
    return (f"{ready}, db connected, on {facts.image}, {len(models.get('data', []))} deployments, "
            f"{len(found.applied)} migrations applied")


def _write_record(stack_dir: Path, report: Report, old: str | None) -> Path:
    """What this upgrade changed, beside the stack (no secrets): the image to go back to and the backup."""
    from datetime import datetime, timezone

    from opsctl.files import write_atomic

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = stack_dir / f".opsctl-upgrade-{stamp}.json"
    body = {"from_image": report.preflight.current_image, "env_value_before": old, "to_image": report.facts.image,
            "backup": str(report.backup), "started_at": stamp}
    write_atomic(path, json.dumps(body, indent=2) + "\n", 0o600, what="the upgrade record")
    return path


def upgrade(settings: Settings, database_url: str, report: Report, backup_path: Path, timeout: float) -> Report:
    """Run every step after the preflight; on a failure after the backup, roll back (see the module docstring)."""
    from opsctl.backup.create import create_backup
    from opsctl.db.connection import connect
    from opsctl.secrets.stackenv import MASTER
    from opsctl.stack.compose import Compose

    env = _stack_env(settings)
    master_key = env.require(MASTER)
    old_value = env.get(IMAGE_VARIABLE)
    stack_dir = Path(settings.stack_dir)
    compose = Compose(settings)

    def backup() -> str:
        created = create_backup(database_url, backup_path, stack_dir, report.preflight.current_image,
                                compose.argv("exec", "-T", "postgres"))
        report.backup = created.path
        return str(created.path)

    try:
        report.run("backup", backup)
    except OpsctlError:
        report.outcome = "failed"
        raise
    with connect(database_url) as connection:
        before = ledger_module.schema_state(connection)
    touched = {"proxy": False}

    def pin() -> str:
        report.record = _write_record(stack_dir, report, old_value)
        _stack_env(settings).write({IMAGE_VARIABLE: report.facts.image})
        return f"{IMAGE_VARIABLE}={report.facts.image} (was {old_value or 'unset'}; record {report.record.name})"

    def migrate() -> str:
        compose.run("up", "-d", "--no-deps", "--force-recreate", MIGRATE_SERVICE)
        done = _wait_for_migrate(settings, timeout)
        return f"{done}, {len(report.preflight.to_apply)} migration(s) to apply"

    def restart() -> str:
        touched["proxy"] = True
        return f"{recreate_proxies(settings, timeout)} recreated on {report.facts.image}"

    try:
        report.run("pin", pin)
        report.run("migrate", migrate)
        report.run("restart", restart)
        report.run("smoke", lambda: _smoke(settings, database_url, report.facts, master_key))
    except OpsctlError as failure:
        _roll_back(settings, database_url, report, old_value, before, touched["proxy"], timeout, failure)
    report.outcome = "upgraded"
    return report


def _roll_back(settings: Settings, database_url: str, report: Report, old_value: str | None,
               before, proxy_touched: bool, timeout: float, failure: OpsctlError) -> None:
    """Undo after `failure`; raises FAILED (rolled back, the old gateway serves) or ROLLBACK_FAILED."""
    from opsctl.db.connection import connect
    from opsctl.stack.compose import Compose
    from opsctl.upgrade.rollback import restore_schema

    status(f"rolling back: {failure.message}")

    def unpin() -> str:
        _stack_env(settings).write({IMAGE_VARIABLE: old_value})
        return f"{IMAGE_VARIABLE}={old_value or 'unset'} again"

    moved = {"value": False}

    def restore() -> str:
        with connect(database_url) as connection:
            moved["value"] = ledger_module.schema_state(connection).moved_since(before)
        if not moved["value"]:
            return "the schema did not move: nothing to restore"
        Compose(settings).run("stop", *proxy_services(settings))  # no proxy writes into a schema being replaced
        counts = restore_schema(database_url, report.backup)
        return f"restored from {report.backup} ({counts.get('LiteLLM_VerificationToken', 0)} keys)"

    def proxy() -> str:
        if not (proxy_touched or moved["value"]):
            return "the proxy never left the old image"
        return f"{recreate_proxies(settings, timeout)} recreated on {report.preflight.current_image}"

    try:
        for name, action in (("rollback: pin", unpin), ("rollback: database", restore), ("rollback: proxy", proxy)):
            report.run(name, action)
    except OpsctlError as error:
        report.outcome = "rollback failed"
        raise OpsctlError(f"the upgrade failed ({failure.message}) and so did its rollback: {error.message}; "
                          f"the backup is {report.backup}", ExitCode.ROLLBACK_FAILED) from None
    report.outcome = "rolled back"
    raise OpsctlError(f"the upgrade to {report.facts.image} failed ({failure.message}); rolled back to "
                      f"{report.preflight.current_image}, which serves again", ExitCode.FAILED)
