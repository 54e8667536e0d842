"""Type-checked by `mypy --strict` in CI: what users write must get precise types."""

from __future__ import annotations

from datetime import datetime, timezone

from moesifapi import (
    EventModel,
    EventRequestModel,
    UserModel,
    ValidationError,
    from_dict,
    to_dict,
    to_json,
)

request = EventRequestModel(
    time=datetime.now(timezone.utc), uri="https://x.test/a", verb="GET", headers={}
)
event = EventModel(request=request, user_id="u1", direction="Incoming")
body: bytes = to_json(event)
as_dict: dict[str, object] = to_dict(event)
user: UserModel = from_dict(UserModel, {"user_id": "u1"})
user_id: str = user.user_id
transaction_id: str = event.transaction_id
when: datetime = event.request.time
try:
    UserModel(user_id="")
except ValidationError as error:
    field: str | None = error.field
