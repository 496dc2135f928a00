"""The aligned all-zero cells of a restored file's data: the holes a restore leaves unwritten (fetch.py)."""

from __future__ import annotations

from ...core.filewriters import BLOCK

_ZEROS = bytes(BLOCK)
_HALF_BLOCK = bytes(BLOCK // 2)  # any aligned zero cell of BLOCK bytes holds this (or one cut short by a blob end)


def zero_cells(data: bytes | memoryview, offset: int) -> list[tuple[int, int]]:
    """The all-zero ranges of ``data`` (to be placed at file ``offset``) made of cells of ``BLOCK``
    bytes aligned in the file (the ends of ``data`` may cut the first and last cell), consecutive
    cells merged: the holes a restore leaves unwritten, so a sparse file (or a run of zeros in a
    chunk that also holds data) is not allocated. The first and last byte of a cell decide nearly
    every cell without comparing the rest (~60 ms a GiB of data on these machines)."""
    cells: list[tuple[int, int]] = []
    n = len(data)
    if isinstance(data, bytes) and data.find(_HALF_BLOCK) < 0:  # fast C scan: no zero cell possible
        return cells
    p = 0
    while p < n:
        q = min(n, p + BLOCK - (offset + p) % BLOCK)
        if data[p] == 0 and data[q - 1] == 0 and bytes(data[p:q]) == _ZEROS[: q - p]:
            if cells and cells[-1][1] == p:
                cells[-1] = (cells[-1][0], q)
            else:
                cells.append((p, q))
        p = q
    return cells


def _all_zero(data: bytes | memoryview) -> bool:
    if data[:1] != b"\0" or data[-1:] != b"\0":  # nearly always decides it
        return False
    whole = data if isinstance(data, bytes) else bytes(data)
    return whole.count(0) == len(whole)
