"""herald.core.suggestions: the "did you mean" that the EventSource and Sensor specs share.

The wording of each spec's hint is pinned by tests/manifests; these pin the
choice of the name itself and the walk to the model that owns a key.
"""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from herald.core.model import Spec
from herald.core.suggestions import closest, field_names, model_at

KEYS = ["caCertSecret", "clientCertSecret", "clientKeySecret", "insecureSkipVerify"]


@pytest.mark.parametrize("ignore_case", [False, True])
@pytest.mark.parametrize(
    ("word", "meant"),
    [
        ("cacertsecret", "caCertSecret"),  # case only: always the key
        ("CACERTSECRET", "caCertSecret"),
        ("caCertSecrt", "caCertSecret"),  # one letter dropped
        ("clientKeySecert", "clientKeySecret"),  # two letters swapped
        ("insecureSkipVerfy", "insecureSkipVerify"),
        ("serverName", None),  # nothing like it
    ],
)
def test_closest_names_the_key_a_typo_meant(
    word: str, meant: str | None, ignore_case: bool
) -> None:
    assert closest(word, KEYS, cutoff=0.7, ignore_case=ignore_case) == meant


def test_ignore_case_finds_a_mis_cased_word_with_a_typo() -> None:
    assert closest("Naem", ["name", "url"], cutoff=0.75, ignore_case=True) == "name"
    assert closest("Naem", ["name", "url"], cutoff=0.7, ignore_case=False) is None


def test_cutoff_is_the_similarity_a_suggestion_needs() -> None:
    # difflib's ratio of "endpnt" to "endpoint" is 2*6/14 = 0.857.
    assert closest("endpnt", ["endpoint"], cutoff=0.85, ignore_case=False) == "endpoint"
    assert closest("endpnt", ["endpoint"], cutoff=0.86, ignore_case=False) is None


def test_closest_takes_any_iterable_and_no_options() -> None:
    assert closest("prot", (k for k in ["port", "path"]), cutoff=0.7, ignore_case=False) == "port"
    assert closest("port", [], cutoff=0.7, ignore_case=True) is None


def test_options_differing_only_in_case_name_the_last_listed() -> None:
    for ignore_case in (False, True):
        assert closest("DEP", ["dep", "Dep"], cutoff=0.75, ignore_case=ignore_case) == "Dep"
    assert closest("daep", ["dep", "Dep"], cutoff=0.75, ignore_case=True) == "Dep"


# ---------------------------------------------------------------------------------------
# The model that owns a key


class Auth(Spec):
    username: str
    password: str


class Tls(Spec):
    ca_cert_secret: str | None = None
    server_name: str | None = Field(default=None, alias="serverName")


class Other(Spec):
    anything: str | None = None


class Endpoint(Spec):
    url: str = Field(alias="URL")
    tls: Tls | None = None
    auth: Annotated[Auth | None, Field(description="credentials")] = None
    either: Auth | Tls | None = None


class Root(Spec):
    endpoints: list[Endpoint] = []
    by_name: dict[str, Endpoint] | None = None
    pair: tuple[Other, ...] = ()


@pytest.mark.parametrize(
    ("loc", "owner"),
    [
        ((), Root),
        (("endpoints", 0), Endpoint),  # through a list
        (("byName", "primary"), Endpoint),  # through Optional and dict values
        (("byName", "primary", "tls"), Tls),  # through an Optional model
        (("endpoints", 3, "auth"), Auth),  # through Annotated
        (("pair", 0), Other),  # through a tuple
        (("endpoints", 0, "either"), None),  # a union of two models: no single owner
        (("endpoints", 0, "URL"), None),  # a string holds no keys
        (("endpoints", "0"), None),  # a list is indexed by numbers
        (("endpoints", 0, "nope"), None),  # no such key
        (("byName", "x", "url"), None),  # keys in manifest spelling only (URL)
    ],
)
def test_model_at_follows_a_path_through_the_annotations(
    loc: tuple[str | int, ...], owner: type[BaseModel] | None
) -> None:
    assert model_at(Root, loc) is owner


def test_a_path_through_a_union_goes_on_in_the_model_that_has_the_key() -> None:
    class Wide(Spec):
        item: Auth | Endpoint | None = None

    assert model_at(Wide, ("item",)) is None
    assert model_at(Wide, ("item", "tls")) is Tls  # only Endpoint has tls


def test_field_names_are_manifest_spellings() -> None:
    assert field_names(Tls) == ["caCertSecret", "serverName"]
    assert field_names(Endpoint) == ["URL", "tls", "auth", "either"]
