"""Crash, fault and hostile-SMTP tests against a real `poststelle serve` (and `worker`)."""

from tests.e2e.conftest import installation, start  # noqa: F401 - the shared fixtures
