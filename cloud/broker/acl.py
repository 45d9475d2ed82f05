"""The broker's ACL with a block for every service instance account, rendered from the template.

The broker ties every connection's client id to its account (``use_username_as_clientid`` in
``mosquitto/mosquitto.conf``), so no device can take over the collector's or another device's
session. The price: one account per service connection. Several collectors (a shared
subscription), several API processes, or ``nursery-cloud serve`` (the API and the collector in
one process) each need an account of their own, named ``svc.<role>.<instance>``.

Mosquitto's ACL file has no prefix match for user names, so an instance account gets its
grants by a copy of its role's block: the template (``mosquitto/acl``) holds one block per role
(``user svc.collector``, ``user svc.api``, ``user svc.server``) and this module appends, for
every ``svc.<role>.<instance>`` account in the password file, that role's topic lines under its
own ``user`` line. Everything else in the template (device patterns) is kept as it is.
"""

from __future__ import annotations

import re

SERVICE_PREFIX = "svc."
# svc.<role>.<instance>: the instance may hold letters, digits, '-', '_' and '.', never a space
# (the ACL line would break) nor ':' (the password file would).
_INSTANCE = re.compile(r"^svc\.(?P<role>[a-z]+)\.(?P<instance>[A-Za-z0-9_.-]{1,64})$")


class AclTemplateError(ValueError):
    """The template lacks the role an instance account names, or the name is not one."""


def role_blocks(template: str) -> dict[str, list[str]]:
    """Each ``user svc.<role>`` block's topic lines, by user name."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in template.splitlines():
        line = raw.strip()
        if line.startswith("user "):
            name = line.split(None, 1)[1]
            current = blocks.setdefault(name, []) if name.startswith(SERVICE_PREFIX) else None
        elif line.startswith("pattern "):
            current = None
        elif line.startswith("topic ") and current is not None:
            current.append(line)
    return blocks


def role_of(username: str) -> str | None:
    """``svc.<role>`` of an instance account ``svc.<role>.<instance>``; None for any other."""
    match = _INSTANCE.match(username)
    return f"{SERVICE_PREFIX}{match['role']}" if match else None


def render_acl(template: str, usernames: list[str]) -> str:
    """The template plus one block per instance account among ``usernames``.

    Instance blocks go *before* the template's first ``pattern`` line: in Mosquitto's ACL file
    a ``topic`` line belongs to the last ``user`` line above it, and patterns are global, so
    placement only matters for readability - but a block after the patterns reads as if it
    belonged to them."""
    blocks = role_blocks(template)
    rendered: list[str] = []
    for username in sorted(set(usernames)):
        role = role_of(username)
        if role is None:
            continue
        if role not in blocks:
            raise AclTemplateError(
                f"broker account {username} names the role {role}, which the ACL template has "
                f"no `user {role}` block for (roles: {', '.join(sorted(blocks))})"
            )
        rendered += ["", f"# instance of {role} (generated)", f"user {username}", *blocks[role]]
    if not rendered:
        return template
    lines = template.splitlines()
    first_pattern = next(
        (i for i, line in enumerate(lines) if line.strip().startswith("pattern ")), len(lines)
    )
    # Keep the comment lines that introduce the patterns together with them.
    while first_pattern > 0 and lines[first_pattern - 1].strip().startswith("#"):
        first_pattern -= 1
    head, tail = lines[:first_pattern], lines[first_pattern:]
    return "\n".join([*head, "# --- service instances ---", *rendered, "", *tail]) + "\n"
