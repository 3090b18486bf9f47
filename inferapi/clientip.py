"""The client's address, the one the audit records and the rate limit counts.

`REMOTE_ADDR` is the direct peer. Only when that peer is a trusted proxy (the external Nginx,
`TRUSTED_PROXIES`) is the address it reports believed: `X-Real-IP`, which it sets from its own
peer, or else the right-most hop of `X-Forwarded-For` that is not itself a trusted proxy.
A client's own `X-Real-IP` or `X-Forwarded-For` is overwritten by the proxy, or ignored.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parsed_ip(value: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def is_trusted_proxy(address: IPAddress) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def forwarded_client(request: HttpRequest) -> IPAddress | None:
    real_ip = parsed_ip(request.META.get("HTTP_X_REAL_IP", ""))
    if real_ip is not None:
        return real_ip
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        address = parsed_ip(hop)
        if address is None:
            return None
        if not is_trusted_proxy(address):
            return address
    return None


def client_ip(request: HttpRequest) -> str:
    peer = parsed_ip(request.META["REMOTE_ADDR"])
    if peer is None or not is_trusted_proxy(peer):
        return request.META["REMOTE_ADDR"]
    return str(forwarded_client(request) or peer)


def audit_ip(address: str) -> str:
    """The address as the audit stores it: truncated when AUDIT_TRUNCATE_IPS is on."""
    if not settings.AUDIT_TRUNCATE_IPS:
        return address
    prefix = 24 if ipaddress.ip_address(address).version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
