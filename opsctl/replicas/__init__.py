"""N LiteLLM proxy replicas behind HAProxy (docs/replicas.md).

Owns: the HAProxy configuration for the replicas (`lbconfig`), a small client
for HAProxy's runtime API over its unix stats socket (`haproxy`: drain, maint,
ready, the per-server counters), and the rolling restart (`rolling`: one replica
at a time, drained, restarted by the caller's callback, ready, put back).

Imports: the base only (errors); httpx inside functions. Never click.
"""
