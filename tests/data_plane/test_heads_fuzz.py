"""The fuzz equivalence of the two head-path twins, run for a few seconds in the suite.

tests/data_plane/heads_fuzz.py is the atheris target (its docstring gives the longer
run by hand); here it runs a bounded number of inputs grown from the seed corpus.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data_plane.test_heads import compiled_or_skip

CORPUS = Path(__file__).with_name("heads_corpus")
RUNS = 4000


def test_both_twins_give_the_same_verdict_and_output_for_fuzzed_bytes(tmp_path: Path) -> None:
    compiled_or_skip()
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.data_plane.heads_fuzz",
            f"-runs={RUNS}",
            "-seed=12345",
            "-max_len=2048",
            "-max_total_time=60",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {RUNS} runs" in result.stderr


def test_the_fuzz_property_fails_when_the_twins_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled_or_skip()
    from data_plane.http import heads as pure
    from tests.data_plane import heads_fuzz

    seed = (CORPUS / "get").read_bytes()
    heads_fuzz.check(seed)
    monkeypatch.setattr(pure, "_METHODS", frozenset({b"POST"}))
    with pytest.raises(AssertionError, match="the twins disagree"):
        heads_fuzz.check(seed)
