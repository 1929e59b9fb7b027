"""`opsctl smoke`: is the gateway up, ready and locked down (health), and does
every model group answer a real request (probe)? Plain modules, no click.
Imports the base and opsctl.admin (the proxy client)."""
