"""Bulk key creation, and listing every key: bounded concurrency vs one at a time.

500 keys from a CSV file against the wire-level fake of LiteLLM's admin
routes (tests/support/fake_admin.py) with 50 ms of server latency per
request, each run on a fresh fake; then `keys list`'s paging over 10,000
keys (100 pages of 100) on one fake with 50 ms per page.
Run: .venv/bin/python bench/keys.py
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

# bench/ itself off the path: its secrets.py would shadow the standard library's (litellm imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsctl.admin.key_rows import build_request, load_rows  # noqa: E402
from opsctl.admin.client import ProxyClient  # noqa: E402
from opsctl.admin.key_pages import list_keys_paged  # noqa: E402
from opsctl.admin.keys import KeySpec, create_keys, list_keys  # noqa: E402
from opsctl.policy import load_policy  # noqa: E402
from opsctl.settings import Settings  # noqa: E402
from tests.support.fake_admin import FakeAdmin  # noqa: E402

KEYS, LATENCY, CONCURRENCY = 500, 0.05, 16
LISTED_KEYS, LIST_TARGET_SECONDS = 10_000, 5.0


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


def timed_listing() -> tuple[float, float]:
    """Seconds to list every key: page by page, and as `keys list` does."""
    with FakeAdmin() as fake:
        for n in range(LISTED_KEYS):  # straight into the fake: filling it is not what is measured
            fake.key_generate({}, json.dumps({"key_alias": f"list-{n:05d}"}).encode())
        fake.latency = LATENCY
        settings = Settings(proxy_url=fake.url, master_key=fake.master_key)
        start = time.perf_counter()
        with ProxyClient(settings) as proxy:
            serial_rows = list_keys(proxy)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        paged_rows = list_keys_paged(settings)
        paged = time.perf_counter() - start
    assert len(serial_rows) == len(paged_rows) == LISTED_KEYS
    assert {r["token"] for r in serial_rows} == {r["token"] for r in paged_rows}
    return serial, paged


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
    serial_list, paged_list = timed_listing()
    print(f"list {LISTED_KEYS} keys ({LISTED_KEYS // 100} pages of 100), {LATENCY * 1000:.0f} ms per page")
    print(f"one page at a time:       {serial_list:6.2f} s")
    print(f"keys list (concurrency {CONCURRENCY}): {paged_list:6.2f} s  (target < {LIST_TARGET_SECONDS:.0f} s)")
    print(f"speed-up:                 {serial_list / paged_list:6.1f}x  (one page at a time / keys list)")
    print(f"load average:             {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
