"""URLs in messages and logs: credentials never shown.

Broker URLs may carry ``user:password@`` and may list several servers
separated by commas (NATS, Kafka); every one of them is masked.
"""

from __future__ import annotations


def mask_url(url: str) -> str:
    """``url`` with any ``user:password@`` of each comma-separated server replaced by ``***@``."""
    parts = []
    for server in url.split(","):
        scheme, sep, rest = server.strip().partition("://")
        if sep and "@" in rest.split("/", 1)[0]:
            server = f"{scheme}://***@{rest.split('@', 1)[1]}"
        parts.append(server.strip())
    return ",".join(parts)
