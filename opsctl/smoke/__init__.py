"""`opsctl smoke`: is the gateway up, ready and locked down (health), and does
every deployment of every model group answer a real request past LiteLLM's
cache (probe), all within one deadline? Plain modules, no click:

- `health`: public routes, readiness, protected routes refusing keyless requests;
  `replicas`: each replica behind the stack's LB on its own (pinned by a header)
- `inventory`: the deployments /model/info lists, by group; `request`: one probe
  request and what its answer proves; `wire`: reading answers up to a cap
- `probe`: every deployment, concurrently, with timeouts and fallbacks checked;
  `verdict`: results per deployment and group, the report
- `deadline`, `codes`, `run` (both halves), `report` (tables), `script_deps` (bin/)

Imports the base, opsctl.redact and opsctl.admin (the proxy client).
"""
