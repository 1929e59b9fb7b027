"""LiteLLM's Postgres: connecting (one-line errors, never the password), the
per-model timeout/retry overrides (plan, guarded apply) and their undo files.

connection (connect, describe_url) -> overrides (plan/apply) -> undo (before-image
files, restore). Imports only the base (opsctl.errors, opsctl.policy, opsctl.output);
no click, no other capability.
"""
