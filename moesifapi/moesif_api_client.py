"""The official SDK's `moesifapi.moesif_api_client`, for code written from its examples.

``from moesifapi.moesif_api_client import *`` gives what the examples use from it:
`MoesifAPIClient`, `APIHelper` and the models. New code imports from `moesifapi`.
"""

from ._compat import APIHelper, HealthController, MoesifAPIClient, StatusModel
from .models import (
    CampaignModel,
    CompanyModel,
    EventModel,
    EventRequestModel,
    EventResponseModel,
    SubscriptionModel,
    UserModel,
)

__all__ = [
    "APIHelper",
    "CampaignModel",
    "CompanyModel",
    "EventModel",
    "EventRequestModel",
    "EventResponseModel",
    "HealthController",
    "MoesifAPIClient",
    "StatusModel",
    "SubscriptionModel",
    "UserModel",
]
