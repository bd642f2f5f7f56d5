"""Fixtures of the verification tests: a test PKI made at test time (one per module) and its
OCSP responder, CRLs and TSA served in process as of the receipt time; and, for tests that need
a whole installation, the web tests' template."""

from collections.abc import AsyncIterator

import aiohttp
import pytest
from certomancer.integrations.aiohttp_illusionist import AsyncIllusionist

from tests.support.testpki import RECEIVED, GeneratedPki
from tests.web.conftest import template  # noqa: F401 - the shared fixture


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> GeneratedPki:
    return GeneratedPki.build(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def pki_session(pki: GeneratedPki) -> AsyncIterator[aiohttp.ClientSession]:
    async with AsyncIllusionist(pki.arch, at_time=RECEIVED).serving_session() as session:
        yield session
