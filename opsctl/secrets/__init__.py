"""The stack's secrets: LiteLLM's encrypted values in Postgres and the keys and
passwords in the stack's .env, inspected and rotated safely.

inventory (LiteLLM's encrypted columns) -> crypto (nacl SecretBox and v2:gcm,
byte-compatible with LiteLLM, no litellm import) -> values (the strings in a
stored value) -> scan (status: which key opens each value) -> rotate (one
locked, verified re-encryption transaction) -> salt, masterkey, passwords
(the rotations: server, .env, restart, proof) -> undo. envfile edits one
KEY=value line of a dotenv file; stackenv knows the stack's .env and the
dated files the old values are saved to; proxy recreates and checks the
proxy; redis_wire speaks just enough RESP.

Imports the base, opsctl.files, opsctl.db.connection, opsctl.stack
(render for the .env's name and new secrets, lifecycle/readiness for
restarts), opsctl.admin.client and opsctl.smoke.probe (the checks after a
restart). No click.
"""
