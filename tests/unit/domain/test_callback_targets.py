"""The callback-target rule: which addresses a task's callback may reach, and the allow-list."""

from __future__ import annotations

import pytest

from domain.delegation.callback import address_kind, check_callback_target, normal_host
from domain.errors import InvalidCommand


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "reserved"),
        ("93.184.216.34", None),
        ("2606:4700::1", None),
    ],
)
def test_each_address_is_judged_by_its_kind(address, kind):
    assert address_kind(address) == kind


def test_a_host_resolving_to_one_internal_address_among_public_ones_is_refused():
    with pytest.raises(InvalidCommand) as refused:
        check_callback_target("callback_url", "hooks.example", ["93.184.216.34", "10.1.2.3"], [])

    assert refused.value.field == "callback_url"
    assert "private" in refused.value.reason and "10.1.2.3" in refused.value.reason
    assert "AGENTLOG_API_CALLBACK_ALLOW_HOSTS" in refused.value.reason


def test_an_allow_listed_host_passes_whatever_it_resolves_to():
    check_callback_target("callback_url", "Hooks.Internal.", ["10.0.0.7"], [normal_host("hooks.internal")])
    check_callback_target("callback_url", "[::1]", ["::1"], [normal_host("[::1]")])


def test_a_host_that_resolves_to_nothing_passes():
    check_callback_target("callback_url", "not-yet.example", [], [])
