"""`opsctl audit [DIR]`."""

import click

from opsctl.cli import pass_settings, settings_for_stack
from opsctl.output import json_option

FORMATS = ("table", "json", "sarif")


@click.command()
@click.argument("stack_dir", metavar="[DIR]", required=False, type=click.Path(file_okay=False))
@click.option("--live", is_flag=True, help="Also probe the running proxy (and, with DATABASE_URL, the DB).")
@json_option
@click.option("--format", "output_format", type=click.Choice(FORMATS), default=None,
              help="Output format on stdout. [default: table]")
@click.option("--sarif", "sarif_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write the findings as SARIF 2.1.0 to this file.")
@click.option("--strict", is_flag=True, help="Exit 1 on WARN too, not only on FAIL.")
@click.option("--manifests", "manifests", metavar="FILE|-",
              help="Audit rendered Kubernetes manifests (kubectl kustomize, helm template) instead of a stack.")
@pass_settings
@click.pass_context
def audit(ctx, settings, stack_dir, live, as_json, output_format, sarif_file, strict, manifests):
    """Check a stack against the runbook's hardening baseline.

    Checks the configuration that will actually run (DIR defaults to
    --stack-dir): every compose file Compose reads there (COMPOSE_FILE,
    overrides, extends, include; `docker compose config` when installed),
    the config the proxy service mounts with its includes, .env and ~/.007.
    DIR/.env counts as with --stack-dir DIR: --live probes the proxy and
    the DB it names.
    Every check says PASS, WARN, FAIL or SKIP, with the file:line (or
    endpoint and status) it saw and a one-line fix. Exit status: 0 when
    nothing FAILs (--strict: nothing WARNs either), 1 otherwise, 2 for an
    unreadable stack file (not YAML, not a mapping, too big, a FIFO...), 3
    when --live cannot reach the proxy or the DB, 5 when DATABASE_URL has
    no LiteLLM tables.

    \b
    Examples:
      opsctl audit stack
      opsctl audit stack --live --strict
      opsctl audit stack --format sarif > audit.sarif
      opsctl audit --json | jq '.checks[] | select(.status == "FAIL")'
      kubectl kustomize gateway-k8s/base | opsctl audit --manifests -
    """
    from opsctl.audit.session import audit_stack, render

    if as_json and output_format not in (None, "json"):
        raise click.UsageError(f"--json cannot be combined with --format {output_format}")
    if manifests is not None:
        if stack_dir or live:
            raise click.UsageError("--manifests excludes DIR and --live")
        from opsctl.k8s.audit import audit_manifests
        from opsctl.k8s.sarif import render_report

        report = audit_manifests(manifests)
        render_report(report, "json" if as_json else output_format or "table", sarif_file)
        ctx.exit(report.exit_code(strict))
    if stack_dir is not None and live:  # the file checks read DIR/.env themselves, and say what is wrong with it
        settings = settings_for_stack(ctx, stack_dir)
    report = audit_stack(settings, stack_dir or settings.stack_dir, live=live)
    render(report, "json" if as_json else output_format or "table", sarif_file)
    ctx.exit(report.exit_code(strict))
