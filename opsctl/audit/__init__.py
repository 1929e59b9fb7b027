"""`opsctl audit`: the runbook's hardening baseline, checked against a stack's files and, live, its proxy and DB.

registry (the checks' vocabulary) -> stackfiles (files read once) -> checks/* (one function per promise)
-> runner (the report) -> sarif (code scanning output).
Imports the base and, for the live checks, opsctl.admin (the proxy client) and opsctl.db
(the overrides plan); no click.
"""
