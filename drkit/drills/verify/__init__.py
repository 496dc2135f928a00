"""Checks run against a restored sandbox; each returns ``CheckResult``s and never raises for a
failed comparison (a failure is a result, named in every report)."""
