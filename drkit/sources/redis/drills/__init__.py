"""The Redis drill, a slice of the drills layer inside the Redis package (ARCHITECTURE.md, "source
packages"): ``drill`` (restore into the sandbox, verify), ``sandbox`` (a redis container), ``verify``
(key counts and sampled values against the facts recorded at backup time)."""
