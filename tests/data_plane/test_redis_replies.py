"""Redis replies read from raw bytes, as they arrive in pieces (no sockets)."""

from __future__ import annotations

import pytest

from data_plane.limits.redis_replies import (
    MAX_REPLY_BYTES,
    ErrorReply,
    ReplyReader,
    UnreadableReply,
)

DECISION = b"*4\r\n:1\r\n:1764763200000000\r\n:0\r\n:1764763200500000\r\n"


def test_a_decision_reply_is_its_integers() -> None:
    assert ReplyReader().feed(DECISION) == [[1, 1764763200000000, 0, 1764763200500000]]


def test_the_replies_of_a_pipeline_come_out_in_order() -> None:
    replies = ReplyReader().feed(DECISION + b"*3\r\n:0\r\n:5\r\n:-2\r\n")
    assert replies == [[1, 1764763200000000, 0, 1764763200500000], [0, 5, -2]]


def test_a_reply_split_anywhere_comes_out_once_whole() -> None:
    for cut in range(1, len(DECISION)):
        reader = ReplyReader()
        assert reader.feed(DECISION[:cut]) == []
        assert reader.feed(DECISION[cut:]) == [[1, 1764763200000000, 0, 1764763200500000]]


def test_an_error_reply_is_a_value_in_its_place() -> None:
    replies = ReplyReader().feed(b"-NOSCRIPT No matching script.\r\n" + DECISION)
    assert isinstance(replies[0], ErrorReply)
    assert replies[0].message == "NOSCRIPT No matching script."
    assert replies[1] == [1, 1764763200000000, 0, 1764763200500000]


def test_strings_and_nulls_a_script_may_answer_are_read() -> None:
    data = b"+OK\r\n$5\r\nab\r\nc\r\n$-1\r\n_\r\n*-1\r\n*2\r\n$0\r\n\r\n:7\r\n"
    assert ReplyReader().feed(data) == [b"OK", b"ab\r\nc", None, None, None, [b"", 7]]


def test_a_bulk_string_split_before_its_end_waits_for_the_rest() -> None:
    reader = ReplyReader()
    assert reader.feed(b"$5\r\nab\r\n") == []
    assert reader.feed(b"c\r\n") == [b"ab\r\nc"]


@pytest.mark.parametrize("data", [b"%1\r\n:1\r\n:2\r\n", b":twelve\r\n", b"*x\r\n"])
def test_bytes_that_are_no_known_reply_are_refused(data: bytes) -> None:
    with pytest.raises(UnreadableReply):
        ReplyReader().feed(data)


def test_arrays_nested_past_any_script_reply_are_refused_not_recursed_into() -> None:
    with pytest.raises(UnreadableReply):
        ReplyReader().feed(b"*1\r\n" * 5_000 + b":1\r\n")


@pytest.mark.parametrize(
    "data",
    [
        b"$%d\r\n" % (MAX_REPLY_BYTES + 1),
        b"*%d\r\n" % (1 << 20),
    ],
)
def test_a_reply_announcing_more_than_the_bounds_is_refused_before_its_bytes_come(
    data: bytes,
) -> None:
    with pytest.raises(UnreadableReply):
        ReplyReader().feed(data)


def test_an_unfinished_reply_is_not_held_past_the_bound() -> None:
    reader = ReplyReader()
    reader.feed(b"+")
    with pytest.raises(UnreadableReply):
        for _ in range(MAX_REPLY_BYTES // 65_536 + 1):
            reader.feed(b"x" * 65_536)
