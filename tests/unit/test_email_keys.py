"""The one e-mail comparison key (issue 27, finding 10): Python's lower() and PostgreSQL's
lower() disagreed on ``vİctim``; ``email_key`` decides for both backends and the limiter."""

from __future__ import annotations

import pytest

from cloud.storage.emails import email_key, exact_email_key, plan_email_keys


@pytest.mark.parametrize(
    "spelling",
    [
        "victim@example.com",
        "VICTIM@EXAMPLE.COM",
        "v\u0130ctim@example.com",  # capital I with dot above: PostgreSQL's lower() gives "i"
        "\uff56\uff49\uff43\uff54\uff49\uff4d@example.com",  # full-width letters
        "  Victim@Example.com ",
    ],
)
def test_spellings_of_one_address_share_one_key(spelling: str) -> None:
    assert email_key(spelling) == "victim@example.com"


def test_distinct_addresses_keep_distinct_keys() -> None:
    assert email_key("josé@example.com") != email_key("jose@example.com")
    assert email_key("victim@example.com") != email_key("victlm@example.com")


def test_the_key_is_stable() -> None:
    for text in ("straße@x.org", "\u1d2cb@x.org", "ǅ@x.org", "ΣΑΣ@x.org", "ﬀ@x.org"):
        key = email_key(text)
        assert email_key(key) == key


def test_an_exact_key_never_equals_a_folded_one() -> None:
    assert exact_email_key("strasse@x.org") != email_key("EXACT strasse@x.org")


def test_existing_accounts_that_collide_are_both_kept_oldest_first() -> None:
    assignments, collisions = plan_email_keys(
        [(7, "straße@x.org"), (3, "STRASSE@x.org"), (9, "other@x.org")], taken={"taken@x.org"}
    )
    assert assignments == [
        (3, "strasse@x.org"),
        (7, exact_email_key("straße@x.org")),
        (9, "other@x.org"),
    ]
    assert collisions == [(7, "straße@x.org")]
