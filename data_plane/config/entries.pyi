# Types of the compiled entries.pyx, for mypy.

def entries(
    payload: bytes, field: int, before: list[bytes]
) -> tuple[list[bytes], list[int]] | None: ...
