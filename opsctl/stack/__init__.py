"""The compose stack: `opsctl init`'s renderer and packaged template, the Compose v2
CLI (compose), container state from the engine API (engine), and the wait for
healthy containers and proxy readiness (readiness).

render, compose, engine -> readiness. Imports only the base (opsctl.errors,
opsctl.settings, opsctl.policy, opsctl.output); no click, no other capability.
"""
