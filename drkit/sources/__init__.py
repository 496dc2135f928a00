"""Sources: what drkit backs up (files, PostgreSQL, Redis), each on top of the repository's stream,
bundle and blob APIs."""
