"""SCIM 2.0 (RFC 7643/7644) protocol code: parsing, dialects, filters, paging,
errors and the discovery documents.

Pure: no ORM, no request, no services. The resources, messages, filter parser
and PATCH engine are ``scim2-models``'; this module adds what the directories
we serve send that the RFC does not (Entra ID's dialect), the few filters the
store can answer with one indexed query, and SCIM's error bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from django.utils.translation import gettext as _
from pydantic import ValidationError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    Error,
    ETag,
    Filter,
    Group,
    ListResponse,
    Patch,
    PatchOp,
    ResourceType,
    ResponseParameters,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    User,
)
from scim2_models.exceptions import SCIMException
from scim2_models.path.expressions import Comparison, LogicalExpr

__all__ = [
    "SCIM_CONTENT_TYPE",
    "ScimError",
    "ScimUserModel",
    "error_body",
    "filter_terms",
    "group_from_payload",
    "json_from_body",
    "list_response",
    "page_params",
    "patch_from_payload",
    "response_params",
    "search_from_payload",
    "resource_types",
    "schemas",
    "service_provider_config",
    "user_from_payload",
]

SCIM_CONTENT_TYPE: Final = "application/scim+json"
DEFAULT_COUNT: Final = 100
MAX_COUNT: Final = 200
PATCH_MAX_OPERATIONS: Final = 1000
ScimUserModel = User[EnterpriseUser]

USER_FILTER_ATTRS: Final = {
    "username": "userName",
    "externalid": "externalId",
    "id": "id",
}
GROUP_FILTER_ATTRS: Final = {
    "displayname": "displayName",
    "externalid": "externalId",
    "id": "id",
}


@lru_cache(maxsize=16)
def _generic(message: type, resource: type) -> Any:
    """``message[resource]``, built once: scim2-models builds a new pydantic
    class (and its validator) on every subscription, tens of ms each."""
    return message[resource]  # type: ignore[index]


class ScimError(Exception):
    """A refusal in SCIM's terms: an HTTP status, a ``scimType`` (RFC 7644
    §3.12, "" for none) and a sentence for the IdP admin who reads it."""

    def __init__(self, status: int, detail: str, scim_type: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


def error_body(error: ScimError) -> dict[str, Any]:
    body = Error(
        status=error.status,
        scim_type=error.scim_type or None,
        detail=error.detail,
    )
    return body.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def _from_validation(exc: ValidationError) -> ScimError:
    """A pydantic error as SCIM's: scim2-models names its scimType in the
    error's type (``scim_invalidValue``); the message never repeats the input
    beyond the library's short sentence."""
    first = exc.errors(include_input=False, include_url=False)[:1]
    scim_type = "invalidValue"
    message = _("The request does not fit the SCIM schema.")
    if first:
        kind = str(first[0].get("type", ""))
        if kind.startswith("scim_"):
            scim_type = kind.removeprefix("scim_")
        where = ".".join(str(part) for part in first[0].get("loc", ()))
        text = str(first[0].get("msg", ""))[:300]
        message = _("%(where)s: %(message)s") % {
            "where": where or _("body"),
            "message": text,
        }
    return ScimError(400, message, scim_type)


def _from_scim_exception(exc: SCIMException) -> ScimError:
    error = exc.to_error()
    return ScimError(
        int(error.status or 400), str(error.detail or "")[:300], error.scim_type or ""
    )


def json_from_body(body: bytes) -> dict[str, Any]:
    """The request's JSON object, or ScimError(400, invalidSyntax)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ScimError(
            400, _("The request body is not JSON (UTF-8)."), "invalidSyntax"
        ) from exc
    if not isinstance(data, dict):
        raise ScimError(
            400, _("The request body must be a JSON object."), "invalidSyntax"
        )
    return data


def _validate(model: Any, data: dict[str, Any], context: Context) -> Any:
    try:
        return model.model_validate(data, scim_ctx=context)
    except ValidationError as exc:
        raise _from_validation(exc) from exc
    except SCIMException as exc:
        raise _from_scim_exception(exc) from exc
    except (ValueError, TypeError, RecursionError) as exc:
        raise ScimError(
            400, _("The request does not fit the SCIM schema."), "invalidValue"
        ) from exc


def _with_schemas(data: dict[str, Any], schema: str) -> dict[str, Any]:
    # Some clients leave "schemas" out of a body whose type the URL says.
    if "schemas" not in data:
        return {**data, "schemas": [schema]}
    return data


def user_from_payload(data: dict[str, Any], *, replace: bool = False) -> Any:
    """A User (with the enterprise extension) from a POST or PUT body."""
    context = (
        Context.RESOURCE_REPLACEMENT_REQUEST
        if replace
        else Context.RESOURCE_CREATION_REQUEST
    )
    data = _with_schemas(data, "urn:ietf:params:scim:schemas:core:2.0:User")
    return _validate(ScimUserModel, data, context)


def group_from_payload(data: dict[str, Any], *, replace: bool = False) -> Group:
    context = (
        Context.RESOURCE_REPLACEMENT_REQUEST
        if replace
        else Context.RESOURCE_CREATION_REQUEST
    )
    data = _with_schemas(data, "urn:ietf:params:scim:schemas:core:2.0:Group")
    group: Group = _validate(Group, data, context)
    return group


def _entra_member_removals(operation: Any) -> list[Any]:
    """Entra ID removes group members with ``{"op": "Remove", "path":
    "members", "value": [{"value": id}, ...]}``, which RFC 7644 reads as
    "remove all members". Entra means the listed ones: one filtered removal
    per member, as the RFC spells it."""
    if not (
        isinstance(operation, dict)
        and str(operation.get("op", "")).lower() == "remove"
        and isinstance(operation.get("path"), str)
        and operation["path"].strip().lower() == "members"
        and isinstance(operation.get("value"), list)
    ):
        return [operation]
    removals = []
    for item in operation["value"]:
        member = item.get("value") if isinstance(item, dict) else None
        if not isinstance(member, str) or '"' in member or "\\" in member:
            raise ScimError(
                400,
                _('Each member to remove needs a "value" with the member\'s id.'),
                "invalidValue",
            )
        removals.append({"op": "remove", "path": f'members[value eq "{member}"]'})
    return removals


def patch_from_payload(data: dict[str, Any], resource: type) -> Any:
    """A PatchOp for ``resource`` (the User or Group model), Entra's dialect
    made RFC 7644's first."""
    operations = data.get("Operations", data.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise ScimError(
            400, _('A PATCH needs a non-empty "Operations" list.'), "invalidSyntax"
        )
    if len(operations) > PATCH_MAX_OPERATIONS:
        raise ScimError(
            400,
            _("A PATCH may carry at most %(max)d operations.")
            % {"max": PATCH_MAX_OPERATIONS},
            "tooMany",
        )
    normalized: list[Any] = []
    for operation in operations:
        normalized.extend(_entra_member_removals(operation))
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": normalized,
    }
    return _validate(_generic(PatchOp, resource), body, Context.RESOURCE_PATCH_REQUEST)


def patch_apply(patch: Any, resource: Any) -> Any:
    """A patched copy of ``resource``; the original is left alone."""
    patched = resource.model_copy(deep=True)
    try:
        patch.patch(patched)
        # Re-validate: a PATCH may have written values no schema accepts.
        data = patched.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
        return type(resource).model_validate(
            data, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
        )
    except ValidationError as exc:
        raise _from_validation(exc) from exc
    except SCIMException as exc:
        raise _from_scim_exception(exc) from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ScimError(
            400, _("The PATCH cannot be applied to this resource."), "invalidValue"
        ) from exc


@dataclass(frozen=True)
class Page:
    start_index: int
    count: int


def page_params(start_index: str | None, count: str | None) -> Page:
    """RFC 7644 §3.4.2.4: startIndex from 1 (less is 1), count from 0 (less is
    0), capped at MAX_COUNT."""
    try:
        start = int(start_index) if start_index else 1
        size = int(count) if count else DEFAULT_COUNT
    except (TypeError, ValueError) as exc:
        raise ScimError(
            400, _("startIndex and count must be whole numbers."), "invalidValue"
        ) from exc
    return Page(start_index=max(1, start), count=min(MAX_COUNT, max(0, size)))


def filter_terms(
    text: str | None, resource: type, allowed: dict[str, str]
) -> dict[str, str]:
    """The filter as {attribute: value}: ``eq`` comparisons joined by ``and``
    on the attributes in ``allowed`` (lower-cased name -> SCIM name), each
    answered by one indexed look-up. Anything else is ScimError(400,
    invalidFilter) with a sentence naming what is supported."""
    if text is None or not text.strip():
        return {}
    if len(text) > 1000:
        raise ScimError(400, _("The filter is too long."), "invalidFilter")
    try:
        search = _generic(SearchRequest, resource).model_validate({"filter": text})
        parsed = search.filter
    except ValidationError as exc:
        raise _from_validation(exc) from exc
    except SCIMException as exc:
        raise _from_scim_exception(exc) from exc
    except (ValueError, TypeError, RecursionError) as exc:
        raise ScimError(400, _("The filter cannot be read."), "invalidFilter") from exc
    unsupported = ScimError(
        400,
        _(
            'Supported filters: %(attrs)s with "eq", joined by "and", for '
            'example userName eq "ada@example.com".'
        )
        % {"attrs": ", ".join(sorted(allowed.values()))},
        "invalidFilter",
    )
    node = parsed.ast if parsed is not None else None
    if node is None:
        return {}
    terms = list(node.terms) if isinstance(node, LogicalExpr) else [node]
    if isinstance(node, LogicalExpr) and str(node.op.value) != "and":
        raise unsupported
    found: dict[str, str] = {}
    for term in terms:
        if not isinstance(term, Comparison) or str(term.op.value) != "eq":
            raise unsupported
        if term.attr_path.sub_attr is not None:
            raise unsupported
        name = allowed.get(term.attr_path.attr.lower())
        if name is None or not isinstance(term.value, str):
            raise unsupported
        if name in found and found[name] != term.value:
            # userName eq "a" and userName eq "b": nothing matches.
            found[name] = "\x00"
            continue
        found[name] = term.value
    return found


def response_params(model: type, attributes: str | None, excluded: str | None) -> Any:
    """RFC 7644 §3.9 ``attributes`` / ``excludedAttributes`` for ``model``'s
    answers, or None when neither is given."""
    if not attributes and not excluded:
        return None
    if len(attributes or "") + len(excluded or "") > 2000:
        raise ScimError(400, _("Too many attributes asked for."), "invalidValue")
    try:
        return _generic(ResponseParameters, model).model_validate(
            {"attributes": attributes or None, "excludedAttributes": excluded or None}
        )
    except ValidationError as exc:
        raise _from_validation(exc) from exc
    except SCIMException as exc:
        raise _from_scim_exception(exc) from exc
    except (ValueError, TypeError) as exc:
        raise ScimError(
            400, _("The attributes cannot be read."), "invalidPath"
        ) from exc


def excludes(params: Any, attribute: str) -> bool:
    """Whether the answer leaves ``attribute`` out, so it need not be read."""
    if params is None:
        return False
    if params.excluded_attributes:
        return any(
            str(path).lower().endswith(attribute.lower())
            for path in params.excluded_attributes
        )
    if params.attributes:
        return not any(
            attribute.lower() in str(path).lower() for path in params.attributes
        )
    return False


@dataclass(frozen=True)
class Search:
    """A POST ``.search`` body (RFC 7644 §3.4.3) as the list's parameters."""

    filter: str | None
    page: Page
    attributes: str | None
    excluded: str | None


def search_from_payload(data: dict[str, Any]) -> Search:
    def text(key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ",".join(value)
        if not isinstance(value, str):
            raise ScimError(
                400, _("%(key)s must be a string.") % {"key": key}, "invalidValue"
            )
        return value

    def number(key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScimError(
                400, _("%(key)s must be a whole number.") % {"key": key}, "invalidValue"
            )
        return str(value)

    return Search(
        filter=text("filter"),
        page=page_params(number("startIndex"), number("count")),
        attributes=text("attributes"),
        excluded=text("excludedAttributes"),
    )


def list_response(
    resources: list[Any],
    *,
    total: int,
    start_index: int,
    model: type,
    params: Any = None,
) -> dict[str, Any]:
    response = _generic(ListResponse, model)(
        total_results=total,
        start_index=start_index,
        items_per_page=len(resources),
        resources=resources,
    )
    return response.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params
    )


def dump(resource: Any, params: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = resource.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params
    )
    return data


def service_provider_config(documentation_uri: str) -> dict[str, Any]:
    config = ServiceProviderConfig.model_validate(
        {"documentationUri": documentation_uri}
    ).model_copy(
        update=dict(
            patch=Patch(supported=True),
            bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
            filter=Filter(supported=True, max_results=MAX_COUNT),
            change_password=ChangePassword(supported=False),
            sort=Sort(supported=False),
            etag=ETag(supported=False),
            authentication_schemes=[
                AuthenticationScheme(
                    type=AuthenticationScheme.Type.oauthbearertoken,
                    name="OAuth Bearer Token",
                    description=_(
                        "A token created on the organization's Directory sync page."
                    ),
                    primary=True,
                )
            ],
        )
    )
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types() -> list[dict[str, Any]]:
    user = ResourceType.from_resource(ScimUserModel)
    group = ResourceType.from_resource(Group)
    return [
        rt.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for rt in (user, group)
    ]


def schemas() -> list[dict[str, Any]]:
    return [
        model.to_schema().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        for model in (User, Group, EnterpriseUser)
    ]
