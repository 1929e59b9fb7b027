"""Bulk key creation: bounded concurrency vs one at a time.

500 keys from a CSV file against the wire-level fake of LiteLLM's admin
routes (tests/support/fake_admin.py) with 50 ms of server latency per
request, each run on a fresh fake. Run: .venv/bin/python bench/keys.py
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsctl.admin.key_rows import build_request, load_rows  # noqa: E402
from opsctl.admin.keys import KeySpec, create_keys  # noqa: E402
from opsctl.policy import load_policy  # noqa: E402
from opsctl.settings import Settings  # noqa: E402
from tests.support.fake_admin import FakeAdmin  # noqa: E402

KEYS, LATENCY, CONCURRENCY = 500, 0.05, 16


def timed_run(rows_file: Path, concurrency: int) -> float:
    defaults = load_policy(None).key_defaults
    specs = [KeySpec(where, build_request(defaults, row)) for where, row in load_rows(rows_file)]
    with FakeAdmin(latency=LATENCY) as fake:
        settings = Settings(proxy_url=fake.url, master_key=fake.master_key)
        start = time.perf_counter()
        results = create_keys(settings, specs, concurrency=concurrency)
        elapsed = time.perf_counter() - start
        assert [r.status for r in results] == ["created"] * KEYS and len(fake.keys) == KEYS
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "keys.csv"
        rows_file.write_text("alias,models,metadata\n" + "".join(f"bench-{n:03d},chat-default,owner=bench\n" for n in range(KEYS)))
        concurrent = timed_run(rows_file, CONCURRENCY)
        serial = timed_run(rows_file, 1)
    print(f"{KEYS} keys, {LATENCY * 1000:.0f} ms server latency per request")
    print(f"one at a time:            {serial:6.2f} s  ({KEYS / serial:6.1f} keys/s)")
    print(f"concurrency {CONCURRENCY:<3}          {concurrent:6.2f} s  ({KEYS / concurrent:6.1f} keys/s)")
    print(f"speed-up:                 {serial / concurrent:6.1f}x  (target >= 8x)")


if __name__ == "__main__":
    main()
