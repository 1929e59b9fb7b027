"""A container's state read from an engine's inspect document: ports flagged
beyond loopback, nanosecond timestamps, health only where a check is defined."""

from __future__ import annotations

from opsctl.stack.engine import state_of

INSPECT = {
    "Id": "abc",
    "Name": "/stack-litellm-1",
    "State": {"Status": "running", "ExitCode": 0, "StartedAt": "2026-11-27T19:23:41.077044123Z",
              "Health": {"Status": "healthy"}},
    "Config": {"Image": "ghcr.io/berriai/litellm-database:main-v1.108.7",
               "Labels": {"com.docker.compose.service": "litellm"},
               "Healthcheck": {"Test": ["CMD", "true"]}},
    "NetworkSettings": {"Ports": {
        "4000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "4000"}],
        "4001/tcp": [{"HostIp": "", "HostPort": "4001"}],  # compose's "4001:4001": every address
        "4002/tcp": [{"HostIp": "::1", "HostPort": "4002"}, {"HostIp": "::", "HostPort": "4002"}],
        "5432/tcp": None,  # exposed, not published
    }},
}


def test_ports_beyond_loopback_are_flagged():
    state = state_of(INSPECT)
    assert [(str(p), p.loopback) for p in state.ports] == [
        ("127.0.0.1:4000->4000/tcp", True),
        ("0.0.0.0:4001->4001/tcp", False),
        ("[::1]:4002->4002/tcp", True),
        ("[::]:4002->4002/tcp", False),
    ]
    assert (state.service, state.name, state.health, state.state_label) == ("litellm", "stack-litellm-1", "healthy", "running")
    assert state.started_at.isoformat() == "2026-11-27T19:23:41.077044+00:00"


def test_no_healthcheck_means_no_health_and_an_exited_one_shot_is_ready():
    migrate = {**INSPECT, "State": {"Status": "exited", "ExitCode": 0, "StartedAt": "0001-01-01T00:00:00Z"},
               "Config": {**INSPECT["Config"], "Healthcheck": {"Test": ["NONE"]}}}
    state = state_of(migrate)
    assert (state.health, state.started_at, state.ready, state.failed) == (None, None, True, False)
    failed = state_of({**migrate, "State": {"Status": "exited", "ExitCode": 1}})
    assert (failed.state_label, failed.ready, failed.failed) == ("exited (1)", False, True)
