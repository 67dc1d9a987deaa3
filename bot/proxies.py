"""Who the client is: forwarded headers count only when a configured proxy sent them.

`X-Forwarded-For` is whatever the sender wrote. Behind a router it names the client; sent
straight to the port by anyone else it names whoever the sender wishes to be (and so would get a
fresh login throttle per request). So the headers are followed only while the address they are
read from is inside `[app] trusted_proxy_networks`, and at most `[app] trusted_proxies` hops.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IPAddress | None:
    """An IP address (IPv4-mapped IPv6 as IPv4), or None for anything else."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_network(text: str) -> str:
    """The throttling key of an address: the IPv4 address, or the IPv6 /64 it is in."""
    address = parse_address(text)
    if address is None:
        return text[:64] or "-"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def resolve_client(
    peer: str,
    forwarded_for: str,
    *,
    hops: int,
    networks: Iterable[IPNetwork],
) -> tuple[str, bool]:
    """The client's address, and whether it came through a trusted proxy.

    Starting from the peer, step one entry to the left in X-Forwarded-For while the current
    address is a trusted proxy, at most `hops` times.
    """
    nets = tuple(networks)
    chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
    current, proxied = peer, False
    for _ in range(hops):
        address = parse_address(current)
        if address is None or not chain or not any(address in net for net in nets):
            break
        current, proxied = chain.pop(), True
    return current, proxied


class TrustedProxies:
    """WSGI middleware: set REMOTE_ADDR (and the scheme) from forwarded headers sent by a
    trusted proxy; ignore them from anyone else."""

    def __init__(self, app: Any, *, hops: int, networks: Iterable[str]) -> None:
        self.app = app
        self.hops = hops
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        client, proxied = resolve_client(
            peer,
            environ.get("HTTP_X_FORWARDED_FOR", ""),
            hops=self.hops,
            networks=self.networks,
        )
        if proxied and parse_address(client) is not None:
            environ["cityhall.proxy_peer"] = peer
            environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)
