"""MySQL / MariaDB source: logical dumps (``mariadb-dump --single-transaction``) stored as stream
snapshots, restores into a new or empty database, facts, a canary and a local-process drill.

Everything of this source lives in this package; the rest of drkit reaches it only through the
``drkit.sources`` entry point ``mysql`` (``plugin.MYSQL``)."""
