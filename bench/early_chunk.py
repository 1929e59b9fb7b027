"""EarlyChunk vs no callback vs LiteLLM's built-in TTFT keepalive, side by side.

One real LiteLLM proxy (the pinned PyPI package) loads the reference
custom_callbacks.py; its upstream is the wire-level fake, holding the first
token for 2 s. Two upstream kinds:
  - headers now: response headers at once, first token after 2 s;
  - headers held: nothing at all for 2 s, then headers and tokens together.
For each, three deployments: no callback, EarlyChunk, and per-model
`keepalive_seconds: 0.2` (LiteLLM's own `: ping` before the first byte).
Measured from the client: first byte, first `data:` event, first content token.
Run: .venv/bin/python bench/early_chunk.py
"""

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.proxy import start_proxy  # noqa: E402
from tests.support.upstream import Behavior, run_upstream  # noqa: E402

HOLD, REPEATS = 2.0, 2
UPSTREAMS = {"headers-now": Behavior(first_token_delay=HOLD), "headers-held": Behavior(latency=HOLD)}
VARIANTS = {"none": {}, "EarlyChunk": {}, "keepalive 0.2 s": {"keepalive_seconds": 0.2}}


def group(upstream: str, variant: str) -> str:
    return f"{upstream}--{variant.split()[0].lower()}"


def proxy_config(upstream_url: str) -> dict:
    models = [
        {"model_name": group(up, variant),
         "litellm_params": {"model": f"openai/{up}", "api_base": upstream_url + "/v1", "api_key": "sk-bench", **extra}}
        for up in UPSTREAMS for variant, extra in VARIANTS.items()
    ]
    return {
        "model_list": models,
        "callback_settings": {"early_chunk": {"models": ["*--earlychunk"]}},
        "litellm_settings": {"callbacks": ["custom_callbacks.tool_choice_guard", "custom_callbacks.early_chunk",
                                           "custom_callbacks.stream_guard", "dynamic_rate_limiter_v3"]},
    }


def measure(proxy, model: str) -> tuple[float, float, float]:
    """Seconds to the first byte, the first `data:` event and the first content token."""
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    first_byte = first_event = first_token = None
    started = time.perf_counter()
    with httpx.stream("POST", proxy.url + "/v1/chat/completions", headers=headers, json=payload, timeout=30) as response:
        for line in response.iter_lines():
            now = time.perf_counter() - started
            first_byte = first_byte if first_byte is not None else now
            if line.startswith("data: {"):
                first_event = first_event if first_event is not None else now
                if '"content":"' in line.replace(" ", "") and '"content":""' not in line.replace(" ", ""):
                    first_token = first_token if first_token is not None else now
    return first_byte, first_event, first_token


def main() -> None:
    stack = Path(tempfile.mkdtemp(prefix="bench-early-chunk-"))
    shutil.copy(ROOT / "opsctl/stack/template/litellm/custom_callbacks.py", stack)
    with run_upstream() as upstream:
        for name, behavior in UPSTREAMS.items():
            upstream.behave(name, behavior)
        (stack / "config.yaml").write_text(yaml.safe_dump(proxy_config(upstream.url)))
        with start_proxy(stack / "config.yaml") as proxy:
            measure(proxy, group("headers-now", "none"))  # first request pays the proxy's lazy imports
            results = {}
            for up in UPSTREAMS:
                for variant in VARIANTS:
                    runs = [measure(proxy, group(up, variant)) for _ in range(REPEATS)]
                    results[up, variant] = [statistics.median(column) for column in zip(*runs)]
    shutil.rmtree(stack, ignore_errors=True)

    print(f"upstream holds its first token {HOLD:.0f} s; median of {REPEATS} streamed requests each, seconds\n")
    print(f"{'upstream':<14}{'proxy':<18}{'first byte':>11}{'first data':>12}{'first token':>13}")
    for (up, variant), (byte, event, token) in results.items():
        print(f"{up:<14}{variant:<18}{byte:>11.3f}{event:>12.3f}{token:>13.3f}")
    plain, early = results["headers-now", "none"][0], results["headers-now", "EarlyChunk"][0]
    print(f"\nheaders-now, time to first byte: {plain:.3f} s without, {early:.3f} s with EarlyChunk "
          f"= {plain / early:.0f}x sooner")


if __name__ == "__main__":
    main()
