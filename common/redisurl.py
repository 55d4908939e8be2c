"""Redis URLs in logs: where one points, never what is secret in it. The operator and the workers log the same way."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def where(url: str) -> str:
    """`host:port` of a Redis URL for logs: never the user, password or query (the URL may carry a secret)."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or '?'}:{parts.port or 6379}"
    except ValueError:
        return "<unparsable URL>"


def redact(text: str, url: str) -> str:
    """`text` with the URL's password (userinfo or `?password=`) masked: redis-py may echo parts of the URL."""
    try:
        parts = urlsplit(url)
        secrets = [parts.password or "", *parse_qs(parts.query).get("password", [])]
    except ValueError:
        secrets = [url]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
