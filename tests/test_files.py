"""opsctl.files: atomic writes that never follow a planted link, private reads that trust nothing."""

import os
import stat
import subprocess

import pytest

from opsctl.errors import ExitCode, OpsctlError
from opsctl.files import read_private, write_atomic

NOBODY = 65534


def test_write_is_atomic_private_and_replaces(tmp_path):
    target = tmp_path / "stack" / "secret.env"
    target.parent.mkdir()
    write_atomic(target, "A=1\n")
    write_atomic(target, "A=2\n")
    assert target.read_text() == "A=2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["secret.env"]  # no temporary left


def test_a_planted_symlink_is_never_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("theirs")
    link = tmp_path / ".env"
    link.symlink_to(victim)
    with pytest.raises(OpsctlError, match="is a symlink") as raised:
        write_atomic(link, "SECRET=1")
    assert raised.value.exit_code == ExitCode.REFUSED
    assert victim.read_text() == "theirs"


def test_a_file_owned_by_another_user_is_not_trusted(tmp_path):
    theirs = tmp_path / "keys.txt"
    theirs.write_text("")
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(OpsctlError, match="owned by another user"):
        write_atomic(theirs, "sk-new")
    assert theirs.read_text() == ""


def test_exclusive_refuses_an_existing_name(tmp_path):
    target = tmp_path / "backup.json"
    write_atomic(target, "one", exclusive=True)
    with pytest.raises(OpsctlError, match="already exists"):
        write_atomic(target, "two", exclusive=True)
    assert target.read_text() == "one"


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 64 KiB tmpfs (the tests run as root, as CI does), so a write really hits ENOSPC."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_full_disk_is_one_error_and_leaves_the_old_file(tiny_filesystem):
    target = tiny_filesystem / "backup.json"
    write_atomic(target, "old")
    with pytest.raises(OpsctlError, match=r"cannot write .*backup.json: no space left on device"):
        write_atomic(target, b"x" * 1_000_000)
    assert target.read_text() == "old"
    assert [p.name for p in tiny_filesystem.iterdir()] == ["backup.json"]


def test_private_reads_refuse_links_other_owners_open_modes_and_size(tmp_path):
    good = tmp_path / "undo.json"
    write_atomic(good, b"{}")
    assert read_private(good, 10) == b"{}"
    (tmp_path / "link").symlink_to(good)
    with pytest.raises(OpsctlError, match="symlink"):
        read_private(tmp_path / "link", 10)
    os.chmod(good, 0o644)
    with pytest.raises(OpsctlError, match="chmod 600"):
        read_private(good, 10)
    os.chmod(good, 0o600)
    with pytest.raises(OpsctlError, match="larger than 1 bytes"):
        read_private(good, 1)
    os.chown(good, NOBODY, NOBODY)
    with pytest.raises(OpsctlError, match="another user"):
        read_private(good, 10)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OpsctlError, match="not a regular file"):
        read_private(fifo, 10)


def test_private_append_creates_0600_and_refuses_links_fifos_and_foreign_files(tmp_path):
    from opsctl.files import open_private_append

    handle, created = open_private_append(tmp_path / "keys.csv")
    assert created and stat.S_IMODE((tmp_path / "keys.csv").stat().st_mode) == 0o600
    handle.write(b"a\n")
    handle.close()
    handle, created = open_private_append(tmp_path / "keys.csv")
    assert not created
    handle.close()
    victim = tmp_path / "victim"
    victim.write_text("")
    (tmp_path / "link").symlink_to(victim)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")
    theirs = tmp_path / "theirs"
    theirs.write_text("")
    theirs.chmod(0o600)
    os.chown(theirs, NOBODY, NOBODY)
    for name, message in [("link", "is a symlink"), ("dangling", "is a symlink"), ("fifo", "No such device"),
                          ("theirs", "owned by another user")]:
        with pytest.raises(OpsctlError, match=message):
            open_private_append(tmp_path / name)
    assert victim.read_text() == "" and not (tmp_path / "nowhere").exists()


def test_read_regular_follows_a_link_to_a_file_but_never_reads_a_fifo_or_device(tmp_path):
    from opsctl.files import read_regular

    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_regular(tmp_path / "link", 10) == b"x"
    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "fifo", "/dev/zero"):
        with pytest.raises(OpsctlError, match="is not a regular file"):
            read_regular(path, 10)


def test_files_users_hand_in_are_never_a_fifo_and_never_binary(tmp_path):
    """State files and manifests go through read_text: a FIFO would hang a plain open()."""
    from click.testing import CliRunner

    from opsctl.cli import cli
    from opsctl.files import read_text

    (tmp_path / "ok.yaml").write_text("version: 1 # é\n", encoding="utf-8")
    assert read_text(tmp_path / "ok.yaml", 100) == "version: 1 # é\n"
    (tmp_path / "latin1.yaml").write_bytes(b"version: 1 # \xe9\n")
    with pytest.raises(OpsctlError, match="latin1.yaml is not UTF-8 text") as caught:
        read_text(tmp_path / "latin1.yaml", 100, "state file")
    assert caught.value.exit_code == ExitCode.USAGE
    os.mkfifo(tmp_path / "fifo")
    for args in (["--proxy-url", "http://127.0.0.1:9", "state", "diff", str(tmp_path / "fifo")],
                 ["audit", "--manifests", str(tmp_path / "fifo")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert result.output.endswith("fifo is not a regular file\n") and result.output.count("\n") == 1
