"""RFC 3161's TimeStampResp as the RFC defines it: the token is OPTIONAL (asn1crypto's is not)."""

from __future__ import annotations

from asn1crypto import cms, core, tsp


class TimeStampResp(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - asn1crypto's schema protocol
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]
