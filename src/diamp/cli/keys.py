"""``diamp keys list | revoke | rotate``: manage the service's clients file.

Registered on ``keys_app`` of :mod:`diamp.cli.service` (beside ``diamp keys new``). Every
change is written atomically under the clients file's lock; a running ``diamp serve``
picks it up within about a second, without a restart (:mod:`diamp.service.clients`).
Keys are never printed: a key is named by its fingerprint (``sha256:`` and the first 16
hex digits of the SHA-256 of the 32 key bytes).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diamp.cli.common import console, emit_json, fail
from diamp.errors import DiampError

if TYPE_CHECKING:
    from diamp.service.keys import ClientEntry

__all__ = ["keys_list", "keys_revoke", "keys_rotate"]

Clients = Annotated[Path, typer.Option(help="Server's clients file (mode 0600).")]
ClientId = Annotated[str, typer.Argument(metavar="ID", help="Client id.")]
_GRACE = (
    "Seconds the replaced key stays valid beside the new one (0: refused at once; at most "
    "7 days). A key still in the grace period of an earlier rotation is refused at once."
)


def _row(entry: ClientEntry, now: float) -> dict[str, Any]:
    from diamp.service.keys import fingerprint

    row: dict[str, Any] = {
        "id": entry.id,
        "state": entry.state(now),
        "created_utc": entry.created_utc or None,
        "rotated_utc": entry.rotated_utc,
        "revoked_utc": entry.revoked_utc,
        "fingerprint": fingerprint(entry.key),
        "previous_fingerprint": None,
        "previous_until_utc": None,
    }
    if entry.previous_key is not None and entry.state(now) == "rotating":
        row["previous_fingerprint"] = fingerprint(entry.previous_key)
        row["previous_until_utc"] = entry.previous_until_utc
    return row


def keys_list(
    clients: Clients,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of clients.")] = False,
) -> None:
    """List the clients: id, state, times and key fingerprints (never a key).

    One tab-separated line per client: id, state (``active``, ``rotating until T``,
    ``revoked T``), created, rotated, fingerprint.
    """
    from diamp.service.keys import read_clients

    try:
        rows = [_row(e, time.time()) for e in read_clients(clients).values()]
    except DiampError as err:
        raise fail(err) from err
    if as_json:
        emit_json({"clients": rows})
        return
    for r in rows:
        when = {"revoked": r["revoked_utc"], "rotating": r["previous_until_utc"]}.get(r["state"])
        state = r["state"] + (f" until {when}" if r["state"] == "rotating" else "")
        state = f"revoked {when}" if r["state"] == "revoked" else state
        sys.stdout.write(f"{r['id']}\t{state}\tcreated {r['created_utc'] or '-'}\t"
                         f"rotated {r['rotated_utc'] or '-'}\t{r['fingerprint']}\n")  # fmt: skip


def keys_revoke(
    client_id: ClientId,
    clients: Clients,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (keys: id, state, revoked_utc, already).")
    ] = False,
) -> None:
    """Revoke a client: its keys are refused (401 ``revoked``) by a running server within ~1 s."""
    from diamp.service.keys import revoke_client

    try:
        entry, already = revoke_client(clients, client_id)
    except DiampError as err:
        raise fail(err) from err
    if as_json:
        emit_json({**_row(entry, time.time()), "already": already})
    else:
        what = "was already revoked" if already else "revoked"
        console.print(f"client {client_id!r} {what} ({entry.revoked_utc})", highlight=False)


def keys_rotate(
    client_id: ClientId,
    clients: Clients,
    out_file: Annotated[
        Path,
        typer.Option("--out", help="Client's key file to replace with the new key (mode 0600)."),
    ],
    grace: Annotated[int, typer.Option(metavar="SECONDS", help=_GRACE)] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (id, state, fingerprints, key_file).")
    ] = False,
) -> None:
    """Give a client a fresh key, written to its key file; the old key is refused after --grace."""
    from diamp.service.keys import rotate_client

    try:
        entry = rotate_client(clients, client_id, out_file, grace=grace)
    except DiampError as err:
        raise fail(err) from err
    row = _row(entry, time.time())
    if as_json:
        emit_json({**row, "key_file": str(out_file)})
        return
    until = f"until {entry.previous_until_utc}" if grace else "no longer (refused at once)"
    console.print(f"client {client_id!r}: new key {row['fingerprint']} written to {out_file} "
                  f"(mode 0600); the old key is valid {until}", highlight=False)  # fmt: skip
