"""The PostgreSQL drill, a slice of the drills layer inside the PostgreSQL package (ARCHITECTURE.md,
"source packages"): ``drill`` (restore a dump or a base backup plus WAL into the sandbox, verify),
``sandbox`` (a local or container server), ``verify`` (row counts and checksums against the facts
recorded at backup time)."""
