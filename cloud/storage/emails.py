"""The one way e-mail addresses are compared: ``email_key``.

Every lookup by e-mail (login, registration, sharing with a caregiver, the operator CLI) and the
per-account login limit use this key, computed here in Python, so that PostgreSQL and SQLite
agree: SQL ``lower()`` differs between them (SQLite folds ASCII only; PostgreSQL follows the
database's locale, where ``lower('vİctim')`` is ``victim``), and that difference let
``vİctim@...`` log into ``victim@...`` under another limiter key.

The key is Unicode compatibility caseless matching (NFKC and full case folding, repeated until
stable), with one addition: U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE folds to ``i`` (its
Turkic folding) rather than to ``i`` plus a combining dot, so ``vİctim`` is ``victim`` as
PostgreSQL's lower() made it. Full-width letters, ligatures and ``ß``/``ss`` therefore fold
together too. The address as typed at registration is kept for display.
"""

from __future__ import annotations

import logging
import unicodedata

logger = logging.getLogger(__name__)

# A key that no address folds to: the prefix holds upper-case letters and a space, which a
# folded key never does. It marks an account that collided with an older one when keys were
# introduced (see exact_email_key).
EXACT_PREFIX = "EXACT "
_FOLD_ROUNDS = 4


def email_key(email: str) -> str:
    """The comparison key of an e-mail address (surrounding white space ignored)."""
    key = email.strip()
    for _ in range(_FOLD_ROUNDS):
        folded = unicodedata.normalize(
            "NFKC", unicodedata.normalize("NFKC", key).replace("\u0130", "i").casefold()
        )
        if folded == key:
            break
        key = folded
    return key


def exact_email_key(email: str) -> str:
    """The key of an account whose address collided with an older account's when keys were
    introduced (migration postgres 0014 / sqlite 0011): the older account keeps the folded key,
    this one is found only by its address exactly as it was stored."""
    return EXACT_PREFIX + email


def plan_email_keys(
    rows: list[tuple[int, str]], taken: set[str]
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Keys for existing accounts that have none, oldest account first: ``(id, key)`` to set,
    and the ``(id, email)`` of accounts whose folded key was already taken (they get their
    exact key, and keep working with the address they registered)."""
    assignments: list[tuple[int, str]] = []
    collisions: list[tuple[int, str]] = []
    used = set(taken)
    for user_id, email in sorted(rows):
        key = email_key(email)
        if key in used:
            key = exact_email_key(email)
            collisions.append((user_id, email))
        used.add(key)
        assignments.append((user_id, key))
    return assignments, collisions


def email_lookup_params(email: str) -> tuple[str, str, str]:
    """The parameters of every look-up by e-mail, on both backends:
    ``email_key IN (key, exact) ORDER BY email_key = exact DESC LIMIT 1`` - the account stored
    with exactly this address if it collided when keys were introduced, else the one with this
    folded key."""
    exact = exact_email_key(email.strip())
    return email_key(email), exact, exact


def log_email_keys(assignments: list[tuple[int, str]], collisions: list[tuple[int, str]]) -> None:
    """What filling the keys did, for the operator (each backend calls it after its commit)."""
    logger.info("gave %d existing accounts their e-mail key", len(assignments))
    for user_id, _email in collisions:
        # No address in the log: account ids are enough for the operator to look them up.
        logger.warning(
            "account %d shares its e-mail key with an older account; it now signs in only "
            "with its address exactly as registered (docs/api.md, e-mail addresses)",
            user_id,
        )
