"""Request and response models shared by the routers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, TypeAdapter

from domain.events import AppendResult


def _whole(value: object) -> object:
    """A JSON number with no fractional part (`196.0`) as the integer it is: JSON Schema's `integer` says so,
    and generated clients (JavaScript's among them) send whole numbers that way. Anything else is left as sent."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# JSON numbers only: lax validation would take "5" and true (stored as 1) where the docs promise 422;
# strict alone would refuse 196.0, which is an integer. 196.5 stays a 422.
WHOLE = BeforeValidator(_whole)
Int = Annotated[int, Field(strict=True), WHOLE]
# Bounds written after WHOLE inside a union (`Int | None = Field(ge=0)`) are checked but documented as "ge",
# not "minimum" (pydantic 2.14), so an optional bounded integer names its bounds before WHOLE.
# The largest integer the API takes anywhere: I-JSON's (RFC 7493) interoperable range, which every JSON parser
# (JavaScript's doubles too) reads exactly, and which the document states exactly (see api/openapi.py).
MAX_INT = 2**53 - 1
NonNegativeInt = Annotated[int, Field(strict=True, ge=0, le=MAX_INT), WHOLE]
Number = Annotated[float, Field(strict=True)]  # an integer is a number too: 1 reads as 1.0
_HTTP_URL = TypeAdapter(HttpUrl)


def _http_url(value: str) -> str:
    """An http(s) URL with a host, kept as written (a parsed URL gains a trailing '/' and loses its case).

    Spaces and control characters are refused: parsers drop some of them silently, so the URL
    checked would not be the URL kept.
    """
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("a URL must not contain spaces or control characters (percent-encode them)")
    _HTTP_URL.validate_python(value)
    return value


HttpUrlText = Annotated[
    str, Field(max_length=2000, json_schema_extra={"format": "uri"}), AfterValidator(_http_url)
]  # fmt: skip
# Text the domain requires not blank (domain/validation.require_text: str.strip() leaves something): a character
# outside Python's whitespace, spelt out so that every regex engine (JSON Schema's too) reads the class alike.
NOT_BLANK = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
Metadata = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=2000)]],
    Field(max_length=50, description="client-defined string pairs, kept with the event"),
]


class Strict(BaseModel):
    """A request body: unknown fields are refused (422), not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Recorded(BaseModel):
    """What a command recorded: pass `position` as `min_position` to a query to read your write."""

    event_id: UUID = Field(description="id of the last event the command recorded")
    position: int = Field(description="the event store's global position of that event", examples=[1234])


def recorded(result: AppendResult) -> dict[str, object]:
    return {"event_id": result.event_ids[-1] if result.event_ids else None, "position": result.position}


class Page(BaseModel):
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def from_millis(value: str | int | None) -> datetime | None:
    """A view's epoch-milliseconds field as a UTC time."""
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value not in (None, "") else None
