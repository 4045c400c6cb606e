"""Pure IPv4 CIDR helpers for the network settings: parsing, containment, overlap, the addresses
Azure leaves usable in a subnet, and the ranges a stack must never use.

No Pulumi, no I/O: property-tested on their own (tests/network/test_cidr.py).
"""

import ipaddress
from typing import Iterable, List, Optional, Sequence, Tuple

# Azure reserves five addresses in every subnet: the network address, the default gateway, two for
# Azure DNS and the broadcast address (learn.microsoft.com/azure/virtual-network/
# virtual-networks-faq, "Are there any restrictions on using IP addresses within these subnets?").
AZURE_RESERVED_PER_SUBNET = 5
# The smallest subnet Azure accepts is a /29 and the largest a /2 (same FAQ: "The smallest supported
# IPv4 subnet is /29, and the largest is /2").
SMALLEST_SUBNET_PREFIX = 29
LARGEST_SUBNET_PREFIX = 2
# RFC 5737 documentation ranges: never routable, so an allow list holding one blocks every real
# client (prod once shipped 203.0.113.0/24 as a "placeholder" authorized range).
DOCUMENTATION_RANGES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")


def parse(cidr: str) -> ipaddress.IPv4Network:
    """``cidr`` as a network; ``ValueError`` naming the rule when it is not a canonical IPv4 CIDR
    (``10.1.0.0/24``; host bits set, as in ``10.1.0.5/24``, are refused: Azure refuses them too)."""
    if not isinstance(cidr, str) or "/" not in cidr:
        raise ValueError(f"{cidr!r} is not an IPv4 CIDR like 10.1.0.0/24")
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"{cidr!r} is not a valid IPv4 CIDR ({exc})") from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"{cidr!r} is not an IPv4 CIDR")
    return network


def contains(outer: str, inner: str) -> bool:
    """Whether every address of ``inner`` is in ``outer``."""
    return parse(inner).subnet_of(parse(outer))


def overlaps(a: str, b: str) -> bool:
    return parse(a).overlaps(parse(b))


def within_any(spaces: Iterable[str], inner: str) -> bool:
    return any(contains(s, inner) for s in spaces)


def usable_addresses(cidr: str) -> int:
    """Addresses of a subnet that resources can take (Azure keeps five)."""
    return max(parse(cidr).num_addresses - AZURE_RESERVED_PER_SUBNET, 0)


def overlapping_pairs(named: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """Labels of every pair of ``(label, cidr)`` entries whose ranges overlap, in input order."""
    out = []
    for i, (la, a) in enumerate(named):
        for lb, b in named[i + 1:]:
            if overlaps(a, b):
                out.append((la, lb))
    return out


def documentation_range(cidr: str) -> Optional[str]:
    """The RFC 5737 range ``cidr`` falls in or covers, if any."""
    net = parse(cidr)
    for doc in DOCUMENTATION_RANGES:
        if net.overlaps(parse(doc)):
            return doc
    return None


def smallest_prefix_for(addresses: int) -> int:
    """The longest prefix (smallest subnet) that leaves at least ``addresses`` usable addresses
    after Azure's five, never longer than /29."""
    if addresses < 0:
        raise ValueError("addresses must not be negative")
    prefix = SMALLEST_SUBNET_PREFIX
    while prefix > LARGEST_SUBNET_PREFIX and 2 ** (32 - prefix) - AZURE_RESERVED_PER_SUBNET < addresses:
        prefix -= 1
    return prefix
