"""The size of what a files backup will walk, counted ahead of it (for a progress bar with a total and an
ETA, as restic's scanner): the same excludes, markers, size limit and file-system boundary as the
archiver, ``lstat`` only, no file opened. Unreadable directories are skipped silently (the backup itself
warns about them)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from .backup import BackupOptions
from .markers import kept_names


@dataclass
class Totals:
    files: int = 0
    bytes: int = 0


def scan(paths: list[str], options: BackupOptions) -> Totals:
    totals = Totals()
    for top in paths:
        try:
            st = os.lstat(top)
        except OSError:
            continue
        _count(totals, st, options)
        if stat.S_ISDIR(st.st_mode):
            _walk(top, st.st_dev, options, totals)
    return totals


def _count(totals: Totals, st: os.stat_result, options: BackupOptions) -> None:
    if stat.S_ISREG(st.st_mode) and (options.larger_than is None or st.st_size <= options.larger_than):
        totals.files += 1
        totals.bytes += st.st_size


def _walk(top: str, dev: int, options: BackupOptions, totals: Totals) -> None:
    stack = [top]
    while stack:
        path = stack.pop()
        try:
            names = sorted(os.listdir(path))
        except OSError:
            continue
        if options.markers:
            names = kept_names(options.markers, path, names)
        for name in names:
            full = os.path.join(path, name)
            if options.excludes.match(full, name):
                continue
            try:
                st = os.lstat(full)
            except OSError:
                continue
            _count(totals, st, options)
            if stat.S_ISDIR(st.st_mode) and not (options.one_file_system and st.st_dev != dev):
                stack.append(full)
