"""``python -m moesifapi.cli``: the `moesif` command without the console script.

Handy where the script's directory is not on PATH, such as a virtualenv not activated.
"""

import sys

from ._main import main

sys.exit(main())
