"""Verification tests that need a whole installation borrow the web tests' template."""

from tests.web.conftest import template  # noqa: F401 - the shared fixture
