"""The tables escape rich markup in server text, and the live view shows
every deployment (rendered as rich would on a terminal)."""

from rich.console import Console

from opsctl.smoke.report import LiveProbeView, group_rows
from opsctl.smoke.verdict import DeploymentResult, GroupResult


def groups():
    hostile = GroupResult("[bold red]x[/]", "chat", [DeploymentResult("a" * 64, "openai/x", "h:1", "failed", error="[link=http://e]click[/link]")])
    hostile.settle("all")
    mixed = GroupResult("chat-mixed", "chat", [DeploymentResult("id-1", "openai/a", "up:8000", "ok", 12.0),
                                               DeploymentResult("id-2", "openai/b", None, "timeout", error="no complete answer in 2s")])
    mixed.settle("any")
    return [hostile, mixed]


def rendered(renderable) -> str:
    console = Console(record=True, width=200)
    console.print(renderable)
    return console.export_text()


def test_rows_escape_markup_and_shorten_ids():
    hostile, mixed = groups()
    text = rendered("\n".join(" | ".join(str(c) for c in row) for row in group_rows(hostile)))
    assert "[bold red]x[/]" in text and "[link=http://e]click[/link]" in text
    assert "aaaaaaaaaaaa…" in text and "a" * 13 not in text
    assert [row[2:6] for row in group_rows(mixed)] == [["degraded", "id-1", "up:8000", "ok"], ["degraded", "id-2", None, "timeout"]]
    assert (mixed.healthy, mixed.error) == (True, "1 of 2 deployments failed: no complete answer in 2s")


def test_the_live_view_shows_every_deployment():
    view = LiveProbeView()
    view.groups = groups()
    text = rendered(view._render())
    lines = [line for line in text.splitlines() if "chat-mixed" in line]
    assert len(lines) == 2 and "id-1" in lines[0] and "timeout" in lines[1]
    assert "[bold red]x[/]" in text
