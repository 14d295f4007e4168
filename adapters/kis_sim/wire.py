"""Writing replies on the wire: raw ASGI messages with the broker's header casing.

``tr_id``, ``tr_cont``, ``gt_uid`` lowercase, ``Content-Type``/``Content-Length`` capitalised
(raw header bytes through uvicorn's h11 server, which keeps the casing it is given); JSON bodies
with Korean text unescaped, as the broker sends them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from starlette.requests import Request

Send = Callable[[dict[str, Any]], Awaitable[None]]
JSON = "application/json; charset=UTF-8"


class Drop(Exception):
    """Close the connection without a complete reply."""


async def json_body(req: Request) -> dict[str, Any]:
    try:
        body = json.loads(await req.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def raw(
    send: Send, status: int, body: bytes, ctype: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"Content-Type", ctype.encode()),
        (b"Content-Length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def reply(
    send: Send,
    status: int,
    payload: dict[str, Any],
    *,
    kis_headers: bool = True,
    tr_id: str = "",
    tr_cont: str = "",
) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    extra = (
        [
            (b"tr_id", tr_id.encode()),
            (b"tr_cont", tr_cont.encode()),
            (b"gt_uid", secrets.token_hex(16).encode()),
        ]
        if kis_headers
        else []
    )
    await raw(send, status, body, JSON, extra)


async def drop(send: Send) -> NoReturn:
    """Start a 200 reply promising 512 bytes, then close the connection (raises :class:`Drop`)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"Content-Type", b"application/json; charset=UTF-8"),
                (b"Content-Length", b"512"),
            ],
        }
    )
    raise Drop()
