"""The OpenAPI 3.1 description of the HTTP API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from poststelle.decision.procedures import ProcedurePolicy
from poststelle.web.problems import ProblemType

IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"
ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"  # nothing Python's splitlines() splits at
_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL_PATTERN = rf"^{_ATEXT}(\.{_ATEXT})*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"  # ASCII dot-atom


def _problems(*kinds: ProblemType) -> dict[str, Any]:
    return {
        str(kind.status): {
            "description": kind.title,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for kind in kinds
    }


_AUTH = (ProblemType.UNAUTHENTICATED, ProblemType.FORBIDDEN)
_REGISTRY_NUMBER = {
    "name": "registry_number",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
_ITEM_ID = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SHA256 = {
    "name": "sha256",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
}
_BINARY = {
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
}


def _submission_request(procedures: ProcedurePolicy) -> dict[str, Any]:
    keys = [p.key for p in (*procedures.procedures, procedures.default)]
    types = sorted(
        {t for p in (*procedures.procedures, procedures.default) for t in p.accepted_types}
    )
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["procedure", "reply_to", "document"],
                    "properties": {
                        "procedure": {"type": "string", "enum": keys},
                        "sender_name": {"type": "string", "maxLength": 200, "pattern": ONE_LINE},
                        "reply_to": {"type": "string", "pattern": EMAIL_PATTERN},
                        "reference": {"type": "string", "maxLength": 200, "pattern": ONE_LINE},
                        "assertion": {
                            "type": "string",
                            "description": "a signed SAML 2.0 assertion of the configured "
                            "identity provider (eID, level of assurance high)",
                        },
                        "document": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "format": "binary"},
                        },
                    },
                },
                "encoding": {"document": {"contentType": ", ".join(types)}},
            }
        },
    }


def document(procedures: ProcedurePolicy) -> dict[str, Any]:
    submission = {"$ref": "#/components/schemas/Submission"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Poststelle API",
            "version": "1.0.0",
            "description": "Portal submissions and department inboxes of the electronic mailroom. "
            "Errors are RFC 7807 problem documents; each `type` is documented at its URL.",
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                    },
                },
                "Submission": {
                    "type": "object",
                    "required": ["registry_number", "received_at", "sha256", "status", "receipt"],
                    "properties": {
                        "receipt": {"type": "string"},
                        "registry_number": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{6,}$"},
                        "received_at": {"type": "string", "format": "date-time"},
                        "sha256": {"type": "string"},
                        "status": {"type": "string"},
                    },
                },
                "SubmissionStatus": {
                    "type": "object",
                    "required": ["registry_number", "state", "procedure"],
                    "properties": {
                        "registry_number": {"type": "string"},
                        "received_at": {"type": "string", "format": "date-time"},
                        "sha256": {"type": "string"},
                        "state": {"type": "string"},
                        "procedure": {"type": "string"},
                    },
                },
                "InboxItem": {
                    "type": "object",
                    "required": ["id", "registry_number", "state", "sha256", "documents"],
                    "properties": {
                        "id": {"type": "string"},
                        "registry_number": {"type": "string"},
                        "channel": {"type": "string"},
                        "received_at": {"type": "string", "format": "date-time"},
                        "sender": {"type": "string"},
                        "subject": {"type": "string"},
                        "state": {"type": "string", "enum": ["delivered", "acknowledged"]},
                        "sha256": {"type": "string"},
                        "size": {"type": "integer"},
                        "decision": {"type": ["object", "null"]},
                        "verdict": {"type": ["string", "null"]},
                        "documents": {"type": "array", "items": {"type": "object"}},
                        "original": {"type": "string"},
                    },
                },
            },
        },
        "security": [{"token": []}],
        "paths": {
            "/api/v1/submissions": {
                "post": {
                    "summary": "Submit documents through the portal channel",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                        }
                    ],
                    "requestBody": _submission_request(procedures),
                    "responses": {
                        "201": {
                            "description": "Durable; the registry number is assigned",
                            "content": {"application/json": {"schema": submission}},
                        },
                        **_problems(
                            ProblemType.MALFORMED,
                            *_AUTH,
                            ProblemType.TOO_LARGE,
                            ProblemType.TYPE_NOT_ACCEPTED,
                            ProblemType.MISSING_DOCUMENT,
                            ProblemType.IDEMPOTENCY_CONFLICT,
                            ProblemType.BAD_ASSERTION,
                            ProblemType.UNAVAILABLE,
                        ),
                    },
                }
            },
            "/api/v1/submissions/{registry_number}": {
                "get": {
                    "summary": "The state of a submission this token made",
                    "parameters": [_REGISTRY_NUMBER],
                    "responses": {
                        "200": {
                            "description": "The submission",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/SubmissionStatus"}
                                }
                            },
                        },
                        **_problems(*_AUTH, ProblemType.NOT_FOUND),
                    },
                }
            },
            "/api/v1/submissions/{registry_number}/receipt": {
                "get": {
                    "summary": "The signed Eingangsbestätigung of a submission this token made",
                    "parameters": [_REGISTRY_NUMBER],
                    "responses": {
                        "200": {
                            "description": "The S/MIME-signed receipt mail (XML and sealed PDF)",
                            "content": {"message/rfc822": {"schema": {"type": "string"}}},
                        },
                        **_problems(*_AUTH, ProblemType.NOT_FOUND),
                    },
                }
            },
            "/api/v1/inbox/items": {
                "get": {
                    "summary": "The department's delivered items",
                    "responses": {
                        "200": {
                            "description": "Newest first",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["department", "items"],
                                        "properties": {
                                            "department": {"type": "string"},
                                            "items": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/InboxItem"},
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        **_problems(*_AUTH),
                    },
                }
            },
            "/api/v1/inbox/items/{item_id}": {
                "get": {
                    "summary": "One item of the department",
                    "parameters": [_ITEM_ID],
                    "responses": {
                        "200": {
                            "description": "The item",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/InboxItem"}
                                }
                            },
                        },
                        **_problems(*_AUTH, ProblemType.NOT_FOUND),
                    },
                }
            },
            "/api/v1/inbox/items/{item_id}/original": {
                "get": {
                    "summary": "The item as it arrived",
                    "parameters": [_ITEM_ID],
                    "responses": {
                        "200": {
                            "description": "message/rfc822",
                            "content": {"message/rfc822": {"schema": {"type": "string"}}},
                        },
                        **_problems(*_AUTH, ProblemType.NOT_FOUND),
                    },
                }
            },
            "/api/v1/inbox/items/{item_id}/documents/{sha256}": {
                "get": {
                    "summary": "One document of the item",
                    "parameters": [_ITEM_ID, _SHA256],
                    "responses": {
                        "200": {"description": "The document", **_BINARY},
                        **_problems(*_AUTH, ProblemType.NOT_FOUND),
                    },
                }
            },
            "/api/v1/inbox/items/{item_id}/xdomea": {
                "get": {
                    "summary": "The item as an xdomea 3.1.0 Geschaeftsgang.0201 message (zip)",
                    "parameters": [_ITEM_ID],
                    "responses": {
                        "200": {
                            "description": "The zip for the e-file system",
                            "content": {
                                "application/zip": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        },
                        **_problems(*_AUTH, ProblemType.NOT_FOUND),
                    },
                }
            },
            "/api/v1/inbox/items/{item_id}/acknowledge": {
                "post": {
                    "summary": "Acknowledge receipt (creates the delivery record once)",
                    "parameters": [_ITEM_ID],
                    "responses": {
                        "200": {
                            "description": "Acknowledged; `first` tells whether this call did it",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["acknowledged", "first"],
                                        "properties": {
                                            "acknowledged": {"type": "boolean"},
                                            "first": {"type": "boolean"},
                                            "record_deferred": {"type": "boolean"},
                                        },
                                    }
                                }
                            },
                        },
                        **_problems(*_AUTH, ProblemType.NOT_FOUND),
                    },
                }
            },
        },
    }


def openapi_routes(procedures: ProcedurePolicy) -> list[Route]:
    spec = document(procedures)

    async def serve(request: Request) -> Response:
        return JSONResponse(spec)

    return [Route("/api/v1/openapi.json", serve, methods=["GET"])]
