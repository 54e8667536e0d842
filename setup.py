"""The optional C speed-up; everything else is configured in pyproject.toml.

`optional=True`: where no C compiler is found, the install goes on without it and
`moesifapi` runs its pure-Python twins of these functions, which write the same bytes.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("moesifapi._speedups", ["moesifapi/_speedups.c"], optional=True)])
