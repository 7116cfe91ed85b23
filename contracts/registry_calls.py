"""Calls to the schema registry, their failures sorted once into not found, unavailable or refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from confluent_kafka.schema_registry.common._httpx_compat import httpx as _http  # the client's own
from confluent_kafka.schema_registry.error import SchemaRegistryError

from contracts.errors import ContractError, RegistryUnavailable

# statuses that say nothing about the subject or schema asked for: retry later (or fix the credentials)
_NOT_AN_ANSWER = frozenset({401, 403, 407, 408, 429})


def is_not_found(e: SchemaRegistryError) -> bool:
    """The registry itself answered that the subject, version or schema does not exist: a 404 with a
    registry error code (40401 subject, 40402 version, 40403 schema). A bare 404 is a URL that is no
    registry's API (the `/apis/ccompat/v7` part missing, say)."""
    return e.http_status_code == 404 and 40400 <= (e.error_code or 0) < 40500


def is_unavailable(e: SchemaRegistryError) -> bool:
    """The answer is no registry's verdict on what was asked: a 5xx, 408 or 429, an authentication
    refusal, or a 404 from a URL that is not a registry's API."""
    status = e.http_status_code
    return status >= 500 or status in _NOT_AN_ANSWER or (status == 404 and not is_not_found(e))


@contextmanager
def registry_call(not_found: Callable[[], ContractError], *, garbled_is_unavailable: bool = True) -> Iterator[None]:
    """Run registry client calls and sort their failures, once, where the driver's exception is caught:

    - the registry answered that what was asked for does not exist: `not_found()` is raised (the
      caller says what that means: a record that cannot be decoded, a schema not registered);
    - no answer (connection refused, DNS, timeout: any transport error), or an answer that is no
      registry's verdict (`is_unavailable`): RegistryUnavailable, a dependency down or misconfigured
      that is never the data's fault: retry later, never dead-letter, 503 at the API;
    - with `garbled_is_unavailable`, a success answer the client cannot read (a URL that answers, but
      not like a registry) is RegistryUnavailable too; leave it off around calls that also raise
      ValueError or TypeError for their own input (the serializer);
    - any other refusal (409 incompatible, 422 invalid schema) is re-raised as it is.
    """
    try:
        yield
    except SchemaRegistryError as e:
        if is_not_found(e):
            raise not_found() from e
        if is_unavailable(e):
            raise RegistryUnavailable(f"HTTP {e.http_status_code}: {e.error_message}") from e
        raise
    except (_http.HTTPError, OSError) as e:
        raise RegistryUnavailable(str(e) or type(e).__name__) from e
    except (ValueError, KeyError, TypeError) as e:
        if not garbled_is_unavailable:
            raise
        raise RegistryUnavailable(f"the answer is not a schema registry's: {e!r}") from e
