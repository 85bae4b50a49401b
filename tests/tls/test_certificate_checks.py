"""The pure checks of a certificate entity: SNI names, chain order, key, expiry at a clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from data_plane.config.certificates import (
    check_chain,
    check_key,
    expiry_problem,
    key_sha256,
    sni_problem,
)
from data_plane.config.document import ConfigFileError, read_gateway_file

from .pki import Authority

CA = Authority.new()


@pytest.mark.parametrize("name", ["api.example.com", "*.example.com", "a-b.c.example.org"])
def test_dns_names_and_one_label_wildcards_are_sni_names(name: str) -> None:
    assert sni_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "api.example.com.",
        "api.example.com\n",
        "api.example.com:443",
        "*.*.example.com",
        "a.*.example.com",
        "localhost",
        "127.0.0.1",
        "-a.example.com",
        "API.example.com",
        "",
    ],
)
def test_other_text_is_not_an_sni_name(name: str) -> None:
    assert sni_problem(name) is not None


def test_a_chain_leaf_first_then_its_issuers_is_in_order() -> None:
    middle = CA.intermediate()
    leaf = middle.issue("api.example.com")
    chain, facts = check_chain(leaf.chain)
    assert len(chain) == 2
    assert facts.names == ("api.example.com",)
    assert facts.not_after == leaf.cert.not_valid_after_utc


def test_a_chain_with_an_issuer_first_is_out_of_order() -> None:
    middle = CA.intermediate()
    leaf = middle.issue("api.example.com")
    with pytest.raises(ValueError, match="did not issue"):
        check_chain(middle.pem + leaf.leaf)


def test_text_around_the_certificates_is_refused() -> None:
    with pytest.raises(ValueError, match="something else"):
        check_chain(CA.issue("a.example.com").chain + "\ntrailing words\n")


def test_the_key_must_be_the_leafs() -> None:
    one, two = CA.issue("a.example.com"), CA.issue("a.example.com")
    chain, _ = check_chain(one.chain)
    check_key(one.key, chain[0])
    with pytest.raises(ValueError, match="does not match"):
        check_key(two.key, chain[0])


def test_key_sha256_is_the_sha256_of_the_pem_text() -> None:
    assert key_sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_expiry_is_refused_when_past_and_a_warning_within_30_days() -> None:
    issued = CA.issue("a.example.com", days=100)
    _, facts = check_chain(issued.chain)
    end = facts.not_after
    assert expiry_problem(facts, end - timedelta(days=31)) == (None, None)
    refused, warning = expiry_problem(facts, end - timedelta(days=29, hours=1))
    assert refused is None and warning is not None and "expires in 29 days" in warning
    refused, warning = expiry_problem(facts, end + timedelta(seconds=1))
    assert refused is not None and "expired" in refused and warning is None


def test_a_node_file_must_hold_the_key_and_a_file_for_the_store_need_not(
    tmp_path: Path,
) -> None:
    issued = CA.issue("a.example.com")
    entity = {"name": "a", "cert": issued.chain, "key_sha256": key_sha256(issued.key)}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"certificates": [entity]}))
    with pytest.raises(ConfigFileError, match="no key"):
        read_gateway_file(str(path))
    config = read_gateway_file(str(path), for_store=True)
    assert config.certificates[0].key is None
