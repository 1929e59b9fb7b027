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


def test_log_frames_are_demultiplexed_and_tty_logs_pass_through():
    from opsctl.stack.engine import demultiplex

    framed = b"\x01\x00\x00\x00\x00\x00\x00\x03out" + b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    assert demultiplex(framed) == b"outerr\n"
    assert demultiplex(b"plain tty line\n") == b"plain tty line\n"


def test_the_stdlib_client_reads_what_the_docker_sdk_reads(engine, docker_host):
    """Same containers, same inspect documents, same logs, from the real engine."""
    import subprocess

    import docker

    from opsctl.stack.engine import EngineClient, connect, project_containers

    name = "sdkparity"
    subprocess.run(engine.podman + ["run", "-d", "--name", f"{name}-one", "--label", f"com.docker.compose.project={name}",
                                    "--label", "com.docker.compose.service=one", engine.image,
                                    "sh", "-c", "echo to-stdout; echo to-stderr >&2; sleep 600"],
                   env=engine.env, check=True, capture_output=True)
    try:
        ours = connect()
        assert isinstance(ours, EngineClient)
        sdk = docker.DockerClient(base_url=docker_host, version="1.41").api
        ids = ours.containers(name)
        assert ids == [c["Id"] for c in sdk.containers(all=True, filters={"label": f"com.docker.compose.project={name}"})]
        assert len(ids) == 1
        assert ours.inspect(ids[0])["State"] == sdk.inspect_container(ids[0])["State"]
        for _ in range(50):  # the shell may not have written yet
            if b"to-stderr" in ours.logs(ids[0], 10):
                break
        assert sorted(ours.logs(ids[0], 10).decode().split()) == ["to-stderr", "to-stdout"]
        assert sorted(sdk.logs(ids[0], stdout=True, stderr=True, tail=10).decode().split()) == ["to-stderr", "to-stdout"]
        [state] = project_containers(ours, name)
        assert (state.service, state.state) == ("one", "running")
    finally:
        subprocess.run(engine.podman + ["rm", "-f", "-t", "0", f"{name}-one"], env=engine.env, capture_output=True)


def test_an_engine_that_is_not_there_is_one_line(monkeypatch, tmp_path):
    from opsctl.errors import ExitCode, OpsctlError
    from opsctl.stack.engine import connect

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    try:
        connect(timeout=1)
    except OpsctlError as error:
        assert error.exit_code == ExitCode.UNREACHABLE
        assert error.message.startswith(f"cannot reach the container engine at unix://{tmp_path}/no.sock: No such file")
    else:
        raise AssertionError("connected to nothing")


def test_a_chunked_or_broken_answer_from_an_engine(tmp_path):
    """Engines answer HTTP/1.0 with a length or a close; a chunked one is decoded, garbage is one error."""
    import socket
    import threading

    import pytest

    from opsctl.stack.engine import EngineClient, EngineError, _dechunk

    assert _dechunk(b"4\r\nWiki\r\n6;x=y\r\npedia \r\n0\r\n\r\n") == b"Wikipedia "
    for answer, expected in ((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n", []),
                             (b"not http at all", None), (b"HTTP/1.0 500 Oops\r\n\r\n{}", None)):
        path = str(tmp_path / "engine.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)

        def serve(reply=answer):
            connection, _ = server.accept()
            connection.recv(65536)
            connection.sendall(reply)
            connection.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client = EngineClient(f"unix://{path}", 5)
        try:
            if expected is None:
                with pytest.raises(EngineError):
                    client.containers("p")
            else:
                assert client.containers("p") == expected
        finally:
            thread.join(5)
            server.close()
            (tmp_path / "engine.sock").unlink()
