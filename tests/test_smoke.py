import moesifapi


def test_package_exposes_a_version() -> None:
    assert moesifapi.__version__
