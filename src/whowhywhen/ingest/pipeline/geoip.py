"""IP → country (offline), and IP anonymisation.

The default lookup is ``iptocc``: the regional internet registries' delegation data, embedded in
the wheel and queried in native code (~0.1 µs), so no network and no database file at run time.
It gives ``None`` for private, loopback, link-local, reserved and unparseable addresses.
"""

import ipaddress
import re
from typing import Protocol

import iptocc

_IPV4_MAPPED_PREFIX = "::ffff:"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_NOT_COUNTRIES = frozenset({"EU", "AP", "ZZ"})  # registry pseudo-codes, not ISO 3166-1


class GeoLookup(Protocol):
    """Anything that maps an IP string to an ISO 3166-1 alpha-2 code and never raises."""

    def country(self, ip: str) -> str | None: ...


class IptoccGeoLookup:
    """:class:`GeoLookup` backed by ``iptocc`` (IPv4, IPv6 and IPv4-mapped IPv6)."""

    __slots__ = ()

    def country(self, ip: str) -> str | None:
        if ip[:7].lower() == _IPV4_MAPPED_PREFIX and "." in ip:
            ip = ip[7:]
        try:
            code = iptocc.country_code(ip)
        except (ValueError, TypeError):  # not expected: iptocc answers None for garbage
            return None
        if code is None or len(code) != 2 or code in _NOT_COUNTRIES:
            return None
        return code.upper()


def anonymise_address(ip: str) -> str | None:
    """Zero the host part: ``1.2.3.4`` → ``1.2.3.0``; IPv6 keeps its /48 (``2001:db8:1::``).

    An IPv4-mapped IPv6 address is treated as the IPv4 address. Anything that is not an IP
    address gives ``None``: it cannot be anonymised, so it is not kept.
    """
    if _IPV4.fullmatch(ip):
        return ip[: ip.rindex(".")] + ".0"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        else:
            return str(ipaddress.IPv6Address(int(address) >> 80 << 80))
    return str(ipaddress.IPv4Address(int(address) & 0xFFFFFF00))
