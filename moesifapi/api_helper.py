"""The official SDK's `moesifapi.api_helper`: ``from moesifapi.api_helper import APIHelper``.

New code has no need of it: the models take dicts, and `json.loads` parses JSON.
"""

from ._compat import APIHelper

__all__ = ["APIHelper"]
