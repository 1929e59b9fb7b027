"""LiteLLM's admin HTTP API: the proxy client (errors, retries), virtual keys,
teams, DB-stored models, and the key rows of bulk files.

client (ProxyClient, AsyncProxyClient, error mapping) -> teams, models, key_rows -> keys.
Imports only the base (opsctl.errors, opsctl.settings); no click, no other capability.
"""
