"""The proxy loads the reference callbacks and dynamic_rate_limiter_v3, and says so."""

import re


def _active_line(log: str) -> str:
    lines = [line for line in log.splitlines() if "custom_callbacks: active proxy callbacks:" in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_log_shows_each_callback_and_the_rate_limiter(default_proxy):
    log = default_proxy.proxy.log_text()

    active = _active_line(log).split("active proxy callbacks:", 1)[1]
    names = [name.strip() for name in active.split(",")]
    assert {"ToolChoiceGuard", "EarlyChunk", "StreamGuard", "_PROXY_DynamicRateLimitHandlerV3"} <= set(names)
    # LiteLLM runs custom_callbacks.py once per entry; each kept instance reports exactly once.
    assert re.findall(r"custom_callbacks: (\w+) active:", log) == ["ToolChoiceGuard", "EarlyChunk", "StreamGuard"]
    assert "custom_callbacks: StreamGuard active: no models (strict no-op)" in log
    assert "custom_callbacks: EarlyChunk active: models=[]" in log


def test_callback_settings_and_callbacks_boot_without_warnings(tuned_proxy):
    log = tuned_proxy.proxy.log_text()

    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert not [line for line in warnings if "callback" in line.lower()], warnings
    assert "custom_callbacks: EarlyChunk active: models=['slow-cloud', 'early-dies', 'guarded-slow-*']" in log
    assert ("custom_callbacks: StreamGuard active: guarded-dies idle_gap_seconds=30, "
            "guarded-st* idle_gap_seconds=0.5, guarded-slow-* idle_gap_seconds=0.5") in log
