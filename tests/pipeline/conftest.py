"""Pipeline tests run on copies of the web tests' template installation."""

from tests.web.conftest import template  # noqa: F401 - the shared fixture
