"""Move every stored value to another key, then the .env: rotate-salt, and its undo.

Order, so that no key is ever only in memory and a crash anywhere is
recoverable:

1. the old value of LITELLM_SALT_KEY goes to a dated 0600 file beside the
   .env (`# unset: LITELLM_SALT_KEY` when there was none);
2. one transaction re-encrypts and verifies every value (opsctl.secrets.rotate);
3. inside it, just before the commit, the new key goes into the .env;
4. commit. If the commit's outcome is unknown (the connection dropped), the
   database is asked which key its values open with and the .env is made to
   agree; if it cannot be asked, the error says how to finish;
5. the proxy is recreated and verified, then values the old proxy wrote under
   the old key between the commit and its exit are swept over (normally 0).

A kill -9 before 3 changes nothing; between 3 and 4 leaves the database
under the old key and the .env with the new one: `opsctl secrets undo` with the
saved file puts the .env back (it accepts values already under the key it returns
to). With no salt key before, the values are under the master key and the
rotation adopts a salt key; undoing it removes the line again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.secrets.crypto import Key
from opsctl.secrets.rotate import Result, reencrypt
from opsctl.secrets.scan import NamedKey, StatusReport, scan
from opsctl.secrets.stackenv import MASTER, SALT, StackEnv, new_key, read_key_file, save_before
from opsctl.settings import Settings


def current_keys(env: StackEnv) -> tuple[tuple[NamedKey, ...], str]:
    """(the stack's keys, salt first; the name of the one the proxy decrypts with)."""
    salt, master = env.get(SALT), env.get(MASTER)
    keys = []
    if salt is not None:
        keys.append(NamedKey("salt_key", Key(salt)))
    if master:
        keys.append(NamedKey("master_key", Key(master)))
    if not keys:
        raise OpsctlError(f"{env.path} sets neither {SALT} nor {MASTER}", ExitCode.USAGE)
    return tuple(keys), keys[0].name


def stack_status(settings: Settings) -> tuple[StatusReport, StackEnv]:
    from opsctl.db.connection import connect

    env = StackEnv.load(settings)
    keys, current = current_keys(env)
    with connect(settings.require_database_url()) as connection:
        return scan(connection, keys, current), env


@dataclass
class SaltSwitch:
    """A planned move of every value from the stack's current key to `target`, and the .env with it."""

    what: str  # "rotate-salt", "rotate-master-key" (adopting a salt key) or "undo"
    env: StackEnv
    source: NamedKey  # the key the values are under now
    target: NamedKey
    env_values: dict[str, str | None]  # what the .env gets, just before the commit (None: the line goes)
    plan: Result  # the dry run
    saved: Path | None = None
    applied: Result | None = None
    swept: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def master_key_after(self) -> str:
        return self.env_values.get(MASTER) or _master(self.env)

    def to_json(self) -> dict:
        return {"action": self.what, "env_file": str(self.env.path), "from_key": self.source.name,
                "to_key": self.target.name,
                "env_changes": {name: "removed" if value is None else "set" for name, value in self.env_values.items()},
                "plan": self.plan.to_json(), "applied": self.applied.to_json() if self.applied else None,
                "saved_file": str(self.saved) if self.saved else None, "swept_after_restart": self.swept}


def _source(env: StackEnv) -> NamedKey:
    keys, _current = current_keys(env)
    return keys[0]


def _master(env: StackEnv) -> str:
    return env.require(MASTER)


def plan_rotate(settings: Settings, new_salt_file: Path | None) -> SaltSwitch:
    env = StackEnv.load(settings)
    source = _source(env)
    salt = read_key_file(new_salt_file, "new salt file") if new_salt_file else new_key(SALT)
    if salt == env.get(SALT):
        raise OpsctlError(f"the new salt key is the one {env.path} already holds", ExitCode.USAGE)
    return plan_switch(settings, "rotate-salt", env, source, NamedKey("new_salt_key", Key(salt)), {SALT: salt})


def plan_back(settings: Settings, env: StackEnv, saved: dict[str, str | None]) -> SaltSwitch:
    """Back to a saved LITELLM_SALT_KEY (or to none: the saved, else the current, master key)."""
    salt = saved[SALT]
    master = saved.get(MASTER) or _master(env)
    target = NamedKey("saved_salt_key", Key(salt)) if salt is not None else NamedKey("saved_master_key", Key(master))
    return plan_switch(settings, "undo", env, _source(env), target, dict(saved))


def plan_switch(settings: Settings, what: str, env: StackEnv, source: NamedKey, target: NamedKey,
                env_values: dict[str, str | None]) -> SaltSwitch:
    from opsctl.db.connection import connect

    env.updated(env_values)  # an .env we could not edit is refused before anything happens
    with connect(settings.require_database_url()) as connection:
        plan = reencrypt(connection, (source,), target, dry_run=True)
    return SaltSwitch(what, env, source, target, env_values, plan)


def apply(settings: Settings, switch: SaltSwitch, *, restart: bool, timeout: float,
          progress: Callable[[str], None]) -> SaltSwitch:
    """Do the switch for real (after the caller showed the plan and got a yes)."""
    from opsctl.db.connection import connect

    database_url = settings.require_database_url()
    switch.saved = save_before(switch.env, switch.what, tuple(switch.env_values))
    progress(f"saved the current {', '.join(switch.env_values)} to {switch.saved}")
    written: list[bool] = []

    def write_env(_result: Result) -> None:
        switch.env.write(switch.env_values)
        written.append(True)

    try:
        with connect(database_url) as connection:
            switch.applied = reencrypt(connection, (switch.source,), switch.target,
                                       before_commit=write_env, on_progress=progress)
    except OpsctlError as error:
        if written:
            raise _settle(database_url, switch, error) from None
        raise
    progress(f"re-encrypted {switch.applied.reencrypted} value(s) in {switch.applied.rows} row(s); "
             f"wrote {', '.join(switch.env_values)} to {switch.env.path}")
    if restart:
        _restart_and_verify(settings, switch, timeout, progress)
    return switch


def _settle(database_url: str, switch: SaltSwitch, error: OpsctlError) -> OpsctlError:
    """The .env was written but the commit failed or its outcome is unknown: make them agree."""
    from opsctl.db.connection import connect

    undo = f"opsctl secrets undo {switch.saved}"
    try:
        with connect(database_url) as connection:
            report = scan(connection, (switch.source, switch.target), switch.source.name)
    except OpsctlError:
        return OpsctlError(f"{error.message}; the new {SALT} is in {switch.env.path} but the database could not be "
                           f"asked whether the rotation committed: when it is back, run `{undo}` (it works either way)",
                           error.exit_code)
    if report.count(switch.target.name) == 0:
        switch.env.restore()
        return OpsctlError(f"{error.message}; the rotation did not commit: every value is under the old key and "
                           f"{switch.env.path} was put back", error.exit_code)
    return OpsctlError(f"{error.message}; the rotation did commit: the values and {switch.env.path} are under the "
                       "new key (recreate the proxy: opsctl up --no-deps litellm)", error.exit_code)


def _restart_and_verify(settings: Settings, switch: SaltSwitch, timeout: float, progress: Callable[[str], None]) -> None:
    from opsctl.db.connection import connect
    from opsctl.secrets.proxy import check_master_keys, probe_db_model, recreate_proxy

    recreate_proxy(settings, timeout, switch.saved)
    if switch.master_key_after != _master(switch.env):
        try:
            check_master_keys(settings, switch.master_key_after, _master(switch.env))
        except OpsctlError as error:
            raise OpsctlError(f"{error.message} (undo: opsctl secrets undo {switch.saved})", error.exit_code) from None
        progress("the proxy accepts the new master key and refuses the old one")
    with connect(settings.require_database_url()) as connection:
        swept = reencrypt(connection, (switch.source,), switch.target)
    switch.swept = swept.reencrypted
    if switch.swept:
        progress(f"re-encrypted {switch.swept} value(s) the old proxy wrote under the old key after the commit")
    probe = probe_db_model(dataclasses.replace(settings, master_key=switch.master_key_after))
    switch.notes.append(f"probe: {probe.model or '-'}: {probe.detail}")
    if not probe.passed:
        raise OpsctlError(f"the proxy is up with the new {SALT} but the probe of DB model {probe.model} failed: "
                          f"{probe.detail} (undo: opsctl secrets undo {switch.saved})", ExitCode.FAILED)
    progress(f"probe of DB model {probe.model}: {probe.detail}" if probe.model else probe.detail)
