"""Every error moesifapi raises, in one shallow tree under `MoesifError`.

`ValidationError` is bad input caught before anything is sent; `APIError` and its
subclasses are what the network or the Collector API said.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "BadGatewayError",
    "BadRequestError",
    "BatchItemTooLargeError",
    "ClientClosedError",
    "ClientError",
    "ForbiddenError",
    "GatewayTimeoutError",
    "GoneError",
    "InternalServerError",
    "MethodNotAllowedError",
    "MoesifError",
    "NotAcceptableError",
    "NotFoundError",
    "PartialBatchError",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "QueueFullError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "ServiceUnavailableError",
    "ShutdownTimeoutError",
    "UnauthorizedError",
    "ValidationError",
    "exception_for_status",
]

# An error body can be a whole HTML page from a proxy; keep enough to diagnose.
MAX_ERROR_BODY_CHARS = 2048


class MoesifError(Exception):
    """Base of every exception this package raises."""


class ValidationError(MoesifError, ValueError):
    """Input that the Collector API would reject, caught before anything is sent.

    `field` is the dotted path of the offending field or key (``"request.time"``,
    ``"[3].metadata.tags"``), or ``None`` when the whole value is wrong.
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)

    def under(self, parent: str) -> ValidationError:
        """The same error, its path placed under `parent` (a field name or ``[i]``)."""
        if not self.field:
            path = parent
        elif self.field.startswith("["):
            path = parent + self.field
        else:
            path = f"{parent}.{self.field}"
        moved = ValidationError(self.reason, field=path)
        moved.__cause__ = self.__cause__
        return moved


class BatchItemTooLargeError(ValidationError):
    """One item encodes to more bytes than a request may carry on its own.

    Raised before anything is sent, when the item alone is over the client's
    `max_batch_bytes` (`scope` ``"batch"``) or an event or action is over the API's
    1 MB limit for one item (`scope` ``"single-event"`` or ``"single-action"``).
    `index` is its place in the call (0 for a single item), `size` its encoded
    bytes and `limit` the bound it broke.
    """

    def __init__(
        self, index: int, size: int, limit: int, *, scope: str = "batch", hint: str = ""
    ) -> None:
        self.index = index
        self.size = size
        self.limit = limit
        self.scope = scope
        self._hint = hint
        super().__init__(
            f"item encodes to {size} bytes, over the {limit}-byte {scope} limit{hint}",
            field=f"[{index}]",
        )

    def at(self, index: int) -> BatchItemTooLargeError:
        """The same error for the item at `index` of a batch."""
        return BatchItemTooLargeError(
            index, self.size, self.limit, scope=self.scope, hint=self._hint
        )


class APIError(MoesifError):
    """The request was sent (or tried) and did not succeed."""


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's timeout."""


class APIStatusError(APIError):
    """The server answered with a status code that is not a success.

    `body` is the response text, cut to `MAX_ERROR_BODY_CHARS`.
    """

    status_code: int

    def __init__(self, message: str, *, response: httpx.Response, body: str) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.body = body


class ClientError(APIStatusError):
    """A 4xx answer: the request was wrong and retrying it as-is will not help."""


class BadRequestError(ClientError):
    """400: a field is missing or malformed."""


class UnauthorizedError(ClientError):
    """401: the `X-Moesif-Application-Id` header is missing or wrong."""


class PaymentRequiredError(ClientError):
    """402: the Moesif account is over its plan's quota."""


class ForbiddenError(ClientError):
    """403: the application id may not access this resource."""


class NotFoundError(ClientError):
    """404: no such endpoint (check `base_url`)."""


class MethodNotAllowedError(ClientError):
    """405: the endpoint does not take this HTTP method."""


class NotAcceptableError(ClientError):
    """406: the server will not answer in JSON for this request."""


class RequestTimeoutError(ClientError):
    """408: the server gave up waiting for the request; retried by default."""


class GoneError(ClientError):
    """410: the resource was removed."""


class PayloadTooLargeError(ClientError):
    """413: the body is over the server's limit (lower `max_batch_bytes`)."""


class RateLimitError(ClientError):
    """429: too many requests; retried by default, honouring `Retry-After`."""


class ServerError(APIStatusError):
    """A 5xx answer: the server failed; most are retried by default."""


class InternalServerError(ServerError):
    """500."""


class BadGatewayError(ServerError):
    """502."""


class ServiceUnavailableError(ServerError):
    """503."""


class GatewayTimeoutError(ServerError):
    """504."""


class PartialBatchError(APIError):
    """A batch call delivered some sub-batches and then failed on one.

    `delivered` and `undelivered` hold the caller's items, in their original order,
    so the undelivered ones can be sent again; `__cause__` is the failure.
    """

    delivered: Sequence[object]
    undelivered: Sequence[object]

    def __init__(
        self,
        message: str,
        *,
        delivered: Sequence[object],
        undelivered: Sequence[object],
    ) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.undelivered = undelivered


class ClientClosedError(MoesifError):
    """The client was closed: it sends and queues nothing more. Build a new one."""


class QueueFullError(MoesifError):
    """Given to `on_error` with an item dropped because the queue held `max_queue_size`."""


class ShutdownTimeoutError(MoesifError):
    """Items still undelivered when the close deadline (`exit_timeout`) ran out.

    Given to `on_error` with those items, and raised by a call whose retries the
    deadline cut short; `__cause__` is the last failure, if there was one.
    """


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    402: PaymentRequiredError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    406: NotAcceptableError,
    408: RequestTimeoutError,
    410: GoneError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    500: InternalServerError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def exception_for_status(status_code: int) -> type[APIStatusError]:
    """The class raised for `status_code`; undocumented codes map to the nearest base."""
    found = _BY_STATUS.get(status_code)
    if found is not None:
        return found
    if 400 <= status_code < 500:
        return ClientError
    if 500 <= status_code < 600:
        return ServerError
    return APIStatusError
