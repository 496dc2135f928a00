"""The files drill, a slice of the drills layer inside the files package (ARCHITECTURE.md, "source
packages"): ``drill`` (restore into a temp directory, verify), ``sandbox`` (the tree as a container
sees it), ``verify`` (the restored tree against the snapshot), ``listing`` (the container's listing
against the snapshot)."""
