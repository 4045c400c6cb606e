"""Properties of the pure CIDR helpers the network settings are checked with."""

import ipaddress

import pytest
from hypothesis import assume, given, strategies as st

from amlplatform.settings import cidr

prefixes = st.integers(min_value=8, max_value=30)


@st.composite
def networks(draw, low=8, high=30):
    prefix = draw(st.integers(min_value=low, max_value=high))
    address = draw(st.integers(min_value=0, max_value=2 ** 32 - 1))
    return str(ipaddress.ip_network((address, prefix), strict=False))


@given(networks(), st.integers(min_value=0, max_value=8))
def test_a_subnet_carved_from_a_network_is_contained_and_overlaps(outer, extra):
    net = ipaddress.ip_network(outer)
    new_prefix = min(net.prefixlen + extra, 32)
    inner = str(next(net.subnets(new_prefix=new_prefix)))
    assert cidr.contains(outer, inner)
    assert cidr.overlaps(outer, inner) and cidr.overlaps(inner, outer)
    assert cidr.within_any(["192.0.0.0/32", outer], inner)


@given(networks(), networks())
def test_overlap_is_symmetric_and_matches_ipaddress(a, b):
    assert cidr.overlaps(a, b) == cidr.overlaps(b, a) == ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))
    if cidr.contains(a, b):
        assert cidr.overlaps(a, b)


@given(networks(low=8, high=29))
def test_sibling_halves_never_overlap(cidr_text):
    low, high = (str(n) for n in ipaddress.ip_network(cidr_text).subnets(prefixlen_diff=1))
    assert not cidr.overlaps(low, high)
    assert cidr.overlapping_pairs([("low", low), ("high", high)]) == []
    assert cidr.overlapping_pairs([("all", cidr_text), ("low", low), ("high", high)]) == [("all", "low"), ("all", "high")]


@given(st.integers(min_value=2, max_value=29))
def test_usable_addresses_keep_azures_five(prefix):
    assert cidr.usable_addresses(f"0.0.0.0/{prefix}") == 2 ** (32 - prefix) - 5


@given(st.integers(min_value=0, max_value=100_000))
def test_smallest_prefix_is_the_smallest_subnet_that_fits(addresses):
    prefix = cidr.smallest_prefix_for(addresses)
    assert cidr.LARGEST_SUBNET_PREFIX <= prefix <= cidr.SMALLEST_SUBNET_PREFIX
    assert cidr.usable_addresses(f"0.0.0.0/{prefix}") >= addresses
    if prefix < cidr.SMALLEST_SUBNET_PREFIX:  # one size smaller would not fit
        assert cidr.usable_addresses(f"0.0.0.0/{prefix + 1}") < addresses


@given(networks(low=8, high=32))
def test_documentation_ranges_are_found_wherever_they_overlap(text):
    found = cidr.documentation_range(text)
    overlapping = [d for d in cidr.DOCUMENTATION_RANGES if cidr.overlaps(d, text)]
    assert found == (overlapping[0] if overlapping else None)


@pytest.mark.parametrize("text", ["203.0.113.0/24", "203.0.113.7/32", "198.51.100.0/25", "192.0.0.0/8"])
def test_documentation_ranges(text):
    assert cidr.documentation_range(text) is not None


@pytest.mark.parametrize("bad", ["10.0.0.1/24", "10.0.0.0", "10.0.0.0/33", "fd00::/64", "", "x/8", None])
def test_parse_refuses_what_azure_refuses(bad):
    with pytest.raises(ValueError):
        cidr.parse(bad)


@given(networks())
def test_parse_round_trips_canonical_text(text):
    assume("/" in text)
    assert str(cidr.parse(text)) == text
