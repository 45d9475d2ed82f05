"""Service accounts the harness creates on the private broker."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from tests.harness.mosquitto import MosquittoBroker


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    username: str
    password: str = field(repr=False)


def create_account(broker: MosquittoBroker, username: str) -> BrokerAccount:
    account = BrokerAccount(username, secrets.token_urlsafe(24))
    broker.add_user(account.username, account.password)
    return account


def create_instance_account(broker: MosquittoBroker, role: str, instance: str) -> BrokerAccount:
    """A service instance account ``svc.<role>.<instance>`` with the role's grants: the broker
    ties a connection's client id to its account, so every service connection needs its own."""
    return create_account(broker, f"svc.{role}.{instance}")
