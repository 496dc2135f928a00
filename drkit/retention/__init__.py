"""Retention: which snapshots a policy keeps (pure), and forgetting the rest."""
