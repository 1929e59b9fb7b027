"""bench/ scripts run with bench/ first on sys.path: a script named like a
standard-library module (bench/secrets.py once did) shadows it for every other
script, which then fails on its first `secrets.token_hex`."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_no_bench_script_shadows_a_standard_library_module():
    names = {path.stem for path in BENCH.glob("*.py")}
    assert names, "bench/ has no scripts"
    assert not names & set(sys.stdlib_module_names)
