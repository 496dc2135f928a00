"""Test doubles and the conformance suite for storage backends (ours and third-party plugins)."""
