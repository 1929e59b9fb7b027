"""Click glue: one module per command group. The work lives in the capability
packages (opsctl.db, opsctl.admin, opsctl.stack, opsctl.audit, opsctl.smoke) and
the base; see docs/architecture.md."""
