"""Work done at the same instant by several forked processes, for the shared tables' tests."""

from __future__ import annotations

import os
from collections.abc import Callable


def counted_together(processes: int, count: Callable[[int], int]) -> int:
    """The sum of `count(i)` over `processes` forked children, all started together.

    Each child runs `count` with its index once every child is forked and reports the
    number it returns; a child that fails reports nothing, which fails the caller.
    """
    go_read, go_write = os.pipe()
    children = []
    for index in range(processes):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read)
                os.read(go_read, 1)
                os.write(write, b"%d" % count(index))
            finally:
                os._exit(0)
        os.close(write)
        children.append((pid, read))
    os.write(go_write, b"g" * processes)
    total = 0
    for pid, read in children:
        with os.fdopen(read, "rb") as answer:
            total += int(answer.read())
        os.waitpid(pid, 0)
    os.close(go_read)
    os.close(go_write)
    return total
