"""drkit-sqlite: an SQLite source kind for drkit, written the way a third party would write one.

It lives outside drkit's package (in drkit's tests) and reaches drkit only through the entry point
``drkit.sources: sqlite`` and the APIs docs/plugins.md names: the registry's protocols
(``drkit.sources.registry``), the repository's stream API and drkit's error classes. Nothing in drkit
names it; tests/integration/test_plugin_source.py installs it as a distribution and drives it through
the ``drkit`` command line.
"""
