"""A typed client for the Moesif Collector API: events, actions, users, companies, subscriptions.

Everything public is importable from here; modules starting with ``_`` are private.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from ._governance import GovernanceDecision
from ._masking import mask_body_fields, mask_headers
from ._results import BatchResult, GovernanceRules, Health, WriteResult
from ._sampling import weight_for
from ._version import __version__
from ._wire import from_dict, to_dict, to_json
from .exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    BadGatewayError,
    BadRequestError,
    BatchItemTooLargeError,
    ClientClosedError,
    ClientError,
    ForbiddenError,
    GatewayTimeoutError,
    GoneError,
    InternalServerError,
    MethodNotAllowedError,
    MoesifError,
    NotAcceptableError,
    NotFoundError,
    PartialBatchError,
    PayloadTooLargeError,
    PaymentRequiredError,
    QueueFullError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    ShutdownTimeoutError,
    UnauthorizedError,
    ValidationError,
)
from .models import (
    ActionModel,
    ActionRequestModel,
    AppConfig,
    CampaignModel,
    CompanyModel,
    Direction,
    EntityRuleValues,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    GovernanceResponse,
    GovernanceRule,
    HeadersInput,
    RegexCondition,
    RegexConditionGroup,
    RegexSamplingRule,
    RuleVariable,
    SpanLink,
    SpanModel,
    SubscriptionItemModel,
    SubscriptionModel,
    UserModel,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIHelper",
    "APIStatusError",
    "APITimeoutError",
    "ActionModel",
    "ActionRequestModel",
    "AppConfig",
    "AsyncMoesifClient",
    "BadGatewayError",
    "BadRequestError",
    "BatchItemTooLargeError",
    "BatchResult",
    "BeforeSend",
    "CampaignModel",
    "ClientClosedError",
    "ClientError",
    "CompanyModel",
    "Direction",
    "EntityRuleValues",
    "EventModel",
    "EventRequestModel",
    "EventResponseModel",
    "ForbiddenError",
    "GatewayTimeoutError",
    "GoneError",
    "GovernanceDecision",
    "GovernanceResponse",
    "GovernanceRule",
    "GovernanceRules",
    "HeadersInput",
    "Health",
    "InternalServerError",
    "MethodNotAllowedError",
    "MoesifAPIClient",
    "MoesifClient",
    "MoesifError",
    "NotAcceptableError",
    "NotFoundError",
    "OnError",
    "PartialBatchError",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "QueueFullError",
    "QueueItem",
    "QueueStats",
    "RateLimitError",
    "RegexCondition",
    "RegexConditionGroup",
    "RegexSamplingRule",
    "RequestTimeoutError",
    "RuleVariable",
    "ServerError",
    "ServiceUnavailableError",
    "ShutdownTimeoutError",
    "SpanLink",
    "SpanModel",
    "SubscriptionItemModel",
    "SubscriptionModel",
    "UnauthorizedError",
    "UserModel",
    "ValidationError",
    "WriteResult",
    "__version__",
    "close_on_sigterm",
    "from_dict",
    "mask_body_fields",
    "mask_headers",
    "to_dict",
    "to_json",
    "truncate_bodies",
    "weight_for",
]

# The clients and the queue need httpx, which takes longer to import than all the rest;
# they load on first use, so code that only builds models or reads this package's
# exceptions does not pay for it. Type checkers see ordinary imports.
if TYPE_CHECKING:
    from ._async_client import AsyncMoesifClient
    from ._client import MoesifClient
    from ._compat import APIHelper, MoesifAPIClient
    from ._limits import truncate_bodies
    from ._queue import BeforeSend, OnError, QueueItem, QueueStats
    from ._shutdown import close_on_sigterm

_LOADED_ON_FIRST_USE = {
    "AsyncMoesifClient": "._async_client",
    "MoesifClient": "._client",
    "APIHelper": "._compat",
    "MoesifAPIClient": "._compat",
    "BeforeSend": "._queue",
    "OnError": "._queue",
    "QueueItem": "._queue",
    "QueueStats": "._queue",
    "close_on_sigterm": "._shutdown",
    "truncate_bodies": "._limits",
}


def __getattr__(name: str) -> object:
    module = _LOADED_ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
