"""The client's two failures: the server said no (ApiError), or nobody answered (ServerUnreachable)."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """An HTTP 4xx/5xx answer: `status` and the server's `detail` (a string, or FastAPI's list of
    issues on a 422). Printed as one line: "HTTP 404: sweep 12 not found"."""

    def __init__(self, status: int, detail: Any, url: str = "") -> None:
        self.status, self.detail, self.url = status, detail, url
        super().__init__(f"HTTP {status}: {detail_text(detail)}")


class ServerUnreachable(ConnectionError):
    """No server answered at `url` (refused, unknown host, timed out connecting)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"cannot reach a resphase server at {url} ({reason}); "
                         "start one with `resphase up`, or pass url= / set RESPHASE_URL")


def detail_text(detail: Any) -> str:
    """One line for a detail: a 422's issues as "grid.D: msg; settings.lr: msg"."""
    if isinstance(detail, list):
        parts = []
        for issue in detail:
            if isinstance(issue, dict):
                loc = ".".join(str(p) for p in issue.get("loc", [])[1:])
                parts.append(f"{loc}: {issue.get('msg')}" if loc else str(issue.get("msg")))
            else:
                parts.append(str(issue))
        return "; ".join(parts)
    return " ".join(str(detail).split())  # newlines in a detail would break the one-line rule


def check(resp: httpx.Response) -> Any:
    """The decoded JSON body of a successful answer (None when empty); ApiError otherwise."""
    if resp.status_code >= 400:
        try:
            body = resp.json()
            detail = body.get("detail", body) if isinstance(body, dict) else body
        except ValueError:
            detail = resp.text or resp.reason_phrase
        raise ApiError(resp.status_code, detail, str(resp.request.url))
    return resp.json() if resp.content else None
