"""One drill per source kind: restore into the sandbox through the ops calls `drkit restore` uses,
then verify."""
