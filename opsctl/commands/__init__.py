"""Click glue: one module per command group; the work lives in opsctl/*."""
