"""rotate-master-key: a new strong master key, proved on the live proxy.

With LITELLM_SALT_KEY set, the master key encrypts nothing LiteLLM stores
(`get_salt_key` prefers the salt key) and virtual keys are sha256 hashes of
themselves, so the rotation is a swap in the .env, a recreate of the proxy,
and the proof: the new key accepted, the old one refused.

Without a salt key every stored value is under the master key. LiteLLM's own
way out is LITELLM_MIGRATE_FROM_MASTER_KEY (litellm/proxy/db/master_key_migration.py):
the proxy re-encrypts at boot, row by row outside any one transaction, may
leave values behind ("Keep ... set and restart"), and needs the old key in its
environment until a second restart. opsctl instead adopts a salt key in the
same run: one locked, verified transaction moves every value from the old
master key to a new salt key (opsctl.secrets.salt), and the .env gets the new
master key and the salt key together, before the commit. Later master-key
rotations are then plain swaps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.secrets.crypto import Key
from opsctl.secrets.salt import SaltSwitch, current_keys, plan_switch
from opsctl.secrets.scan import NamedKey, scan
from opsctl.secrets.stackenv import MASTER, SALT, StackEnv, new_key, read_key_file, save_before
from opsctl.settings import Settings


@dataclass
class MasterSwap:
    """The .env-only swap, when a salt key encrypts the stored values."""

    what: str  # "rotate-master-key" or "undo"
    env: StackEnv
    new_key: str
    stale: int  # values under the old master key: the proxy cannot read them now, nor after
    saved: Path | None = None

    @property
    def old_key(self) -> str:
        return self.env.require(MASTER)

    def to_json(self) -> dict:
        return {"action": self.what, "env_file": str(self.env.path), "reencrypt": False,
                "values_under_old_master_key": self.stale, "saved_file": str(self.saved) if self.saved else None}


def plan_swap(settings: Settings, what: str, env: StackEnv, new: str) -> MasterSwap:
    from opsctl.db.connection import connect

    env.updated({MASTER: new})
    keys, current = current_keys(env)
    with connect(settings.require_database_url()) as connection:
        stale = scan(connection, keys, current).count("master_key")
    return MasterSwap(what, env, new, stale)


def plan_rotate(settings: Settings, new_key_file: Path | None) -> MasterSwap | SaltSwitch:
    env = StackEnv.load(settings)
    old = env.require(MASTER)
    new = read_key_file(new_key_file, "new master key file") if new_key_file else new_key(MASTER)
    if new == old:
        raise OpsctlError(f"the new master key is the one {env.path} already holds", ExitCode.USAGE)
    if env.get(SALT) is not None:
        return plan_swap(settings, "rotate-master-key", env, new)
    salt = new_key(SALT)
    return plan_switch(settings, "rotate-master-key", env, NamedKey("master_key", Key(old)),
                       NamedKey("new_salt_key", Key(salt)), {MASTER: new, SALT: salt})


def apply_swap(settings: Settings, swap: MasterSwap, *, restart: bool, timeout: float,
               progress: Callable[[str], None]) -> MasterSwap:
    import dataclasses

    from opsctl.secrets.proxy import check_master_keys, probe_db_model, recreate_proxy

    old = swap.old_key
    swap.saved = save_before(swap.env, swap.what, (MASTER,))
    progress(f"saved the current {MASTER} to {swap.saved}")
    swap.env.write({MASTER: swap.new_key})
    progress(f"wrote the new {MASTER} to {swap.env.path}")
    if not restart:
        return swap
    recreate_proxy(settings, timeout, swap.saved)
    try:
        check_master_keys(settings, swap.new_key, old)
    except OpsctlError as error:
        raise OpsctlError(f"{error.message} (undo: opsctl secrets undo {swap.saved})", error.exit_code) from None
    progress("the proxy accepts the new master key and refuses the old one")
    probe = probe_db_model(dataclasses.replace(settings, master_key=swap.new_key))
    if not probe.passed:
        raise OpsctlError(f"the proxy takes the new master key but the probe of DB model {probe.model} failed: "
                          f"{probe.detail} (undo: opsctl secrets undo {swap.saved})", ExitCode.FAILED)
    progress(f"probe of DB model {probe.model}: {probe.detail}" if probe.model else probe.detail)
    return swap
