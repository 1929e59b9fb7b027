"""The upgrade's preflight: what it would change, and what stops it before anything is written.

Compared: the migrations the target image carries with the ones Prisma's ledger
records as applied. To apply: carried, not applied. Blocking: a failed,
half-applied or rolled-back migration in the ledger (LiteLLM's resolver would
guess at it; an operator should decide), applied migrations the target does
not carry (the target is older than the schema: a downgrade), a schema that
has tables but no ledger, and less free disk where the backup goes than the
database's size (the dump is smaller, but not by a promised amount).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from opsctl.upgrade.ledger import Ledger


@dataclass(frozen=True)
class Preflight:
    current_image: str | None
    target_image: str
    applied: tuple[str, ...]
    to_apply: tuple[str, ...]
    database_bytes: int
    free_bytes: int
    blocking: tuple[str, ...] = ()
    problems: dict[str, str] = field(default_factory=dict)  # migration -> what is wrong with it
    unknown: tuple[str, ...] = ()  # applied, but not carried by the target

    @property
    def image_changes(self) -> bool:
        return self.current_image != self.target_image

    @property
    def changes(self) -> bool:
        return self.image_changes or bool(self.to_apply)

    @property
    def blocked(self) -> bool:
        return bool(self.blocking)

    def to_json(self) -> dict:
        return {"current_image": self.current_image, "target_image": self.target_image,
                "changes": self.changes, "blocked": self.blocked, "blocking": list(self.blocking),
                "migrations": {"applied": len(self.applied), "to_apply": list(self.to_apply),
                               "problems": self.problems, "not_in_target": list(self.unknown)},
                "disk": {"database_bytes": self.database_bytes, "free_bytes": self.free_bytes}}


def compare(current_image: str | None, target_image: str, carried: tuple[str, ...], ledger: Ledger,
            database_bytes: int, free_bytes: int) -> Preflight:
    """The preflight from what was read (pure: the migration tests drive it with any two lists)."""
    applied = set(ledger.applied)
    to_apply = tuple(name for name in sorted(carried) if name not in applied)
    unknown = tuple(sorted(applied - set(carried)))
    blocking = []
    if ledger.problems:
        named = ", ".join(f"{name} {why}" for name, why in ledger.problems.items())
        blocking.append(f"the migration ledger records {len(ledger.problems)} unfinished migration(s): {named}; "
                        "fix it (prisma migrate resolve, or restore a backup) before upgrading")
    if not ledger.exists:
        blocking.append("the database has LiteLLM's tables but no _prisma_migrations ledger: "
                        "the migrate service cannot tell what is applied")
    if unknown:
        blocking.append(f"the database has {len(unknown)} migration(s) {target_image} does not carry "
                        f"(first: {unknown[0]}): that is a downgrade; restore a backup from that version instead")
    if free_bytes < database_bytes:
        blocking.append(f"only {free_bytes / 1e6:.0f} MB free for the backup, the database holds "
                        f"{database_bytes / 1e6:.0f} MB")
    return Preflight(current_image, target_image, tuple(sorted(applied)), to_apply, database_bytes, free_bytes,
                     tuple(blocking), dict(ledger.problems), unknown)


def free_space(directory: Path) -> int:
    """Free bytes where the backup will be written (its nearest existing parent)."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def database_size(connection) -> int:
    return connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
