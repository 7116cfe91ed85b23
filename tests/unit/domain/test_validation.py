"""The shared checks: blank text, http(s) URLs, JSON text, minimums; each names its field."""

from __future__ import annotations

import pytest

from domain.errors import InvalidCommand
from domain.validation import require_at_least, require_http_url, require_json, require_text


def test_valid_values_are_returned_unchanged():
    assert require_text("f", " a ") == " a "
    assert require_http_url("f", "https://x") == "https://x"
    assert require_json("f", '{"a": [1]}') == '{"a": [1]}'
    assert require_at_least("f", 3, 3) == 3


@pytest.mark.parametrize(
    "check",
    [
        lambda: require_text("f", "\n"),
        lambda: require_http_url("f", "http:// "),
        lambda: require_http_url("f", "HTTPS//x"),
        lambda: require_json("f", "{'single': 'quotes'}"),
        lambda: require_at_least("f", 2, 3),
    ],
    ids=["text", "url-empty-host", "url-scheme", "json", "minimum"],
)
def test_invalid_values_name_the_field(check):
    with pytest.raises(InvalidCommand) as raised:
        check()
    assert raised.value.field == "f"
    assert raised.value.reason
