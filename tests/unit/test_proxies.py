"""Forwarded headers count only from configured proxy networks; IPv6 clients share a /64 key."""

from __future__ import annotations

import ipaddress

import pytest

from bot.config import ConfigError, parse_settings
from bot.proxies import client_network, resolve_client

ROUTER = (ipaddress.ip_network("10.0.0.0/8"),)


def test_forwarded_for_from_a_trusted_proxy_names_the_client() -> None:
    assert resolve_client("10.1.2.3", "198.51.100.7", hops=1, networks=ROUTER) == (
        "198.51.100.7",
        True,
    )


def test_forwarded_for_from_anyone_else_is_ignored() -> None:
    assert resolve_client("203.0.113.9", "198.51.100.7", hops=1, networks=ROUTER) == (
        "203.0.113.9",
        False,
    )


def test_a_client_cannot_prepend_addresses_past_the_configured_hops() -> None:
    # the client sent "X-Forwarded-For: 10.9.9.9" itself; the router appended the real address
    forwarded = "10.9.9.9, 198.51.100.7"
    assert resolve_client("10.1.2.3", forwarded, hops=1, networks=ROUTER)[0] == "198.51.100.7"
    assert resolve_client("10.1.2.3", forwarded, hops=2, networks=ROUTER)[0] == "198.51.100.7"


def test_two_trusted_hops_are_followed() -> None:
    forwarded = "198.51.100.7, 10.2.0.1"
    assert resolve_client("10.1.2.3", forwarded, hops=2, networks=ROUTER)[0] == "198.51.100.7"
    assert resolve_client("10.1.2.3", forwarded, hops=1, networks=ROUTER)[0] == "10.2.0.1"


def test_no_forwarded_header_keeps_the_peer() -> None:
    assert resolve_client("10.1.2.3", "", hops=1, networks=ROUTER) == ("10.1.2.3", False)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("not an address", "not an address"),
    ],
)
def test_client_network_is_the_ipv4_address_or_the_ipv6_64(address: str, key: str) -> None:
    assert client_network(address) == key


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ({"trusted_proxies": 1}, "app.trusted_proxies: X-Forwarded-For is now trusted only"),
        ({"trusted_proxy_networks": ["10.0.0.0/8"]}, "app.trusted_proxy_networks: set app."),
        (
            {"trusted_proxies": 1, "trusted_proxy_networks": ["10.0.0.300/8"]},
            "app.trusted_proxy_networks: '10.0.0.300/8' is not a network",
        ),
        ({"trusted_proxies": -1}, "app.trusted_proxies: must be 0 or more"),
    ],
)
def test_proxy_settings_that_would_trust_anyone_are_refused_at_start_up(
    app: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"app": app}, env={})
    assert str(err.value).startswith(message)


def test_login_throttle_settings_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"console\.login_delay_seconds: must be at least 1"):
        parse_settings({"console": {"login_delay_seconds": 0}}, env={})


def test_proxy_networks_with_their_hop_count_are_accepted() -> None:
    settings = parse_settings(
        {"app": {"trusted_proxies": 1, "trusted_proxy_networks": ["10.0.0.0/8", "fd00::/8"]}},
        env={},
    )
    assert settings.app.trusted_proxy_networks == ("10.0.0.0/8", "fd00::/8")
