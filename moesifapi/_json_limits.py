"""The limits on hostile JSON values, re-exported by `_constants`."""

from __future__ import annotations

# How many arrays and objects one item (an event, a user, ...) may nest
# inside one another, the item's own object included (in an event, `request.body` is an
# object at depth 3; in a user, `metadata` is one at depth 2), and the
# most digits an integer (or an integral Decimal) in metadata or a body may have.
# Deeper or longer, or a value that contains itself, is a ValidationError naming its
# path. The depth is far below Python's recursion limit; the digits are its default
# int-to-str limit, checked before any conversion.
MAX_JSON_DEPTH = 100
MAX_JSON_INT_DIGITS = 4300
