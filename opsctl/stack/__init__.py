"""The compose stack: `opsctl init`'s renderer and packaged template, the Compose v2
CLI (compose), container state from the engine API (engine), the wait for
healthy containers and proxy readiness (readiness), and the proxy replicas behind
the LB (replicas: their LB state, the rolling restart).

render, compose, engine -> readiness. Imports the base (opsctl.errors,
opsctl.settings, opsctl.policy, opsctl.output) and `opsctl.replicas` (the
replicas' files, the LB's runtime API, the rolling loop); no click.
"""
