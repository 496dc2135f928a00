"""A runbook's ``kind:`` is any registered source kind (or ``all``), not a fixed list: a MySQL runbook covers
the MySQL jobs; an unknown kind is an invalid runbook naming the registered ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drkit.config import DrkitConfig
from drkit.drills.runbook import Runbook, runbook_jobs

BOOK = {"name": "db-loss", "title": "Database lost", "incident": "the server is gone", "steps": [{"title": "restore"}]}


def test_a_registered_kind_is_a_runbook_kind() -> None:
    book = Runbook.model_validate({**BOOK, "kind": "mysql"})
    repos = {"default": {"url": "/nowhere", "passphrase": {"env": "PW"}}}
    jobs = {
        "shop": {"source": {"kind": "mysql", "url": "mysql://backup@db/shop"}},
        "www": {"source": {"kind": "files", "paths": ["/srv"]}},
    }
    config = DrkitConfig.model_validate({"repositories": repos, "jobs": jobs})
    assert runbook_jobs(book, config, []) == ["shop"]


def test_an_unknown_kind_names_the_registered_ones() -> None:
    with pytest.raises(ValidationError, match=r"kind 'mongo' is not a registered source kind \(files, mysql, "):
        Runbook.model_validate({**BOOK, "kind": "mongo"})
