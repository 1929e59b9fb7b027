"""`opsctl secrets undo FILE`: go back to the values a rotation saved.

Each rotation first writes the values it replaces to a dated 0600 file beside
the .env. Undo is the same rotation again, towards those values, with the
same order, checks and restart: a saved salt key (or none) moves the stored
values back and restores the .env lines; a saved master key is swapped back
in; a saved Postgres or Redis password is set again on the server and in the
.env. What undo replaces is saved too, so an undo can be undone.
"""

from __future__ import annotations

from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.secrets.passwords import DATABASE_URL, REDIS_PASSWORD, plan_db, plan_redis, url_login
from opsctl.secrets.stackenv import MASTER, SALT, StackEnv, read_saved
from opsctl.settings import Settings


def plan_undo(settings: Settings, saved_file: Path, redis_host: str, redis_port: int):
    """The plan that returns the stack to what `saved_file` holds."""
    from opsctl.secrets.masterkey import plan_swap
    from opsctl.secrets.salt import plan_back

    saved = read_saved(saved_file)
    env = StackEnv.load(settings)
    if SALT in saved:
        return plan_back(settings, env, saved)
    if MASTER in saved:
        if not saved[MASTER]:
            raise OpsctlError(f"{saved_file} saved no {MASTER} value to go back to", ExitCode.USAGE)
        return plan_swap(settings, "undo", env, saved[MASTER])
    if DATABASE_URL in saved and saved[DATABASE_URL]:
        _role, password = url_login(saved[DATABASE_URL])
        if password is None:
            raise OpsctlError(f"{saved_file}: the saved {DATABASE_URL} holds no password", ExitCode.USAGE)
        return plan_db(settings, "undo", new_password=password)
    if REDIS_PASSWORD in saved and saved[REDIS_PASSWORD]:
        return plan_redis(settings, "undo", redis_host, redis_port, new_password=saved[REDIS_PASSWORD])
    raise OpsctlError(f"{saved_file} holds none of {SALT}, {MASTER}, {DATABASE_URL}, {REDIS_PASSWORD}", ExitCode.USAGE)


def apply(settings: Settings, plan, *, restart: bool, timeout: float, progress):
    """Carry out any rotation plan (rotate-salt, rotate-master-key, the passwords, undo)."""
    from opsctl.secrets import masterkey, passwords, salt

    appliers = {salt.SaltSwitch: salt.apply, masterkey.MasterSwap: masterkey.apply_swap,
                passwords.DbPasswordChange: passwords.apply_db, passwords.RedisPasswordChange: passwords.apply_redis}
    return appliers[type(plan)](settings, plan, restart=restart, timeout=timeout, progress=progress)
