"""LiteLLM's DATABASE_URL is a Prisma URL; opsctl connects with libpq.

Prisma adds query options libpq does not know (a URL with `?schema=public`
makes libpq refuse the whole URL). `libpq_url` drops Prisma's own options,
turns `schema` into the search_path Prisma would use, and passes every other
option (sslmode, sslrootcert, application_name, ...) through to libpq.
Option names are Prisma's PostgreSQL connector's (prisma.io docs,
"PostgreSQL database connector", connection URL arguments).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

# Options only Prisma's query engine reads (pool sizing, pgbouncer mode, its own TLS identity).
PRISMA_ONLY = frozenset({
    "connection_limit", "pool_timeout", "socket_timeout", "pgbouncer", "statement_cache_size",
    "max_connection_lifetime", "max_idle_connection_lifetime", "sslidentity", "sslpassword", "sslaccept",
})


def libpq_url(database_url: str) -> str:
    """The URL libpq accepts for the same database and schema Prisma would use."""
    try:
        parts = urlsplit(database_url)
    except ValueError:
        return database_url  # libpq reports what is wrong with it
    if parts.scheme not in ("postgresql", "postgres") or not parts.query:
        return database_url
    kept, schema = [], None
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "schema":
            schema = value
        elif name not in PRISMA_ONLY:
            kept.append((name, value))
    if schema:
        # Prisma sets search_path to the schema alone; quoted so a name like "My Schema" survives.
        quoted = '"' + schema.replace('"', '""') + '"'
        # libpq's `options` splits on spaces unless backslash-escaped.
        extra = "-csearch_path=" + quoted.replace("\\", "\\\\").replace(" ", "\\ ")
        options = dict(kept).get("options")
        kept = [(n, v) for n, v in kept if n != "options"] + [("options", f"{options} {extra}" if options else extra)]
    return urlunsplit(parts._replace(query=urlencode(kept, quote_via=quote)))
