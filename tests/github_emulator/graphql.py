"""The two GraphQL mutations GitHub offers for a pull request's draft state, and nothing else.

REST cannot move a pull request between draft and ready; GitHub's GraphQL API can. The answers
follow GitHub's GraphQL schema (``data.<mutation>.pullRequest.isDraft``); unknown documents get
GitHub's ``errors`` shape, so a client that asks for more than this fails loudly.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

from tests.github_emulator.state import PullRecord

DRAFT_MUTATIONS = {"markPullRequestReadyForReview": False, "convertPullRequestToDraft": True}
_MUTATION = re.compile(r"^\s*mutation\b[^{]*\{\s*(\w+)\s*\(\s*input\s*:\s*\$input\s*\)")


def node_id(repo: str, number: int) -> str:
    return f"PR_{repo.replace('/', '_')}_{number}"


def answer(document: dict[str, Any], pulls: dict[str, PullRecord]) -> tuple[dict[str, Any], PullRecord | None]:
    """The GraphQL response for ``document`` and the pull request it changed (None when it changed none)."""
    query = document.get("query")
    match = _MUTATION.match(query) if isinstance(query, str) else None
    if match is None or match.group(1) not in DRAFT_MUTATIONS:
        return error_body("UNSUPPORTED", "the emulator answers only the draft-state mutations"), None
    name = match.group(1)
    variables = document.get("variables") or {}
    given = variables.get("input", {}) if isinstance(variables, dict) else {}
    pr = pulls.get(str(given.get("pullRequestId")))
    if pr is None:
        return error_body(
            "NOT_FOUND", f"Could not resolve to a node with the global id of '{given.get('pullRequestId')}'"
        ), None
    if pr.state != "open":
        return error_body("UNPROCESSABLE", "Pull request is not open"), None
    pr.draft = DRAFT_MUTATIONS[name]
    result = {"clientMutationId": given.get("clientMutationId"), "pullRequest": {"isDraft": pr.draft}}
    return {"data": {name: result}}, pr


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"type": kind, "message": message, "path": None}]}


#: The response shape GitHub's GraphQL endpoint documents (https://docs.github.com/graphql), narrowed
#: to the draft-state mutations: ``data`` with the mutation's payload, or ``errors``.
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "data": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "patternProperties": {
                "^(markPullRequestReadyForReview|convertPullRequestToDraft)$": {
                    "type": "object",
                    "required": ["clientMutationId", "pullRequest"],
                    "properties": {
                        "clientMutationId": {"type": ["string", "null"]},
                        "pullRequest": {
                            "type": "object",
                            "required": ["isDraft"],
                            "properties": {"isDraft": {"type": "boolean"}},
                        },
                    },
                }
            },
        },
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}},
        },
    },
    "anyOf": [{"required": ["data"]}, {"required": ["errors"]}],
}


def problems(body: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(RESPONSE_SCHEMA)
    return [f"POST /graphql: {error.message} at {list(error.absolute_path)}" for error in validator.iter_errors(body)]
