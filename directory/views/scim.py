"""The SCIM 2.0 endpoint, ``{SITE_URL}/scim/v2/<login_path>/``: Django glue
between ``directory.scim.protocol`` and the directory's services.

Bearer-token authentication (a token works on its own organization's base
URL only), a body cap, a rate limit per token, and SCIM error bodies for every
refusal: no payload reaches a 500.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from scim2_models import Email, Group, GroupMember, Meta, Name

from directory.models import ScimGroup, ScimToken, ScimUser
from directory.scim.protocol import (
    GROUP_FILTER_ATTRS,
    SCIM_CONTENT_TYPE,
    USER_FILTER_ATTRS,
    ScimError,
    ScimUserModel,
    Search,
    dump,
    error_body,
    excludes,
    filter_terms,
    group_from_payload,
    json_from_body,
    list_response,
    page_params,
    patch_apply,
    patch_from_payload,
    resource_types,
    response_params,
    schemas,
    search_from_payload,
    service_provider_config,
    user_from_payload,
)
from directory.selectors import (
    scim_group_get,
    scim_groups_page,
    scim_user_get,
    scim_users_page,
)
from directory.services import (
    DirectoryRefused,
    ScimGroupFields,
    ScimUserFields,
    scim_group_create,
    scim_group_delete,
    scim_group_replace,
    scim_user_create,
    scim_user_delete,
    scim_user_replace,
    token_authenticate,
    token_rate_exceeded,
)
from organizations.access import client_ip
from organizations.errors import ServiceError
from organizations.services import login_path_lookup

__all__ = ["scim_endpoint"]

SEARCH = ".search"


def scim_response(data: Any, status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data), status=status, content_type=SCIM_CONTENT_TYPE
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def scim_error_response(error: ScimError, **headers: str) -> HttpResponse:
    return scim_response(error_body(error), error.status, **headers)


def base_url(login_path: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("scim_base", args=[login_path])


# ------------------------------------------------------------ resources


def _trim(value: str | None, limit: int) -> str:
    """A profile value as kept: without control or invisible formatting
    characters (a bidirectional override would garble the console's pages)."""
    return "".join(ch for ch in (value or "") if ch.isprintable()).strip()[:limit]


def user_fields(resource: Any) -> ScimUserFields:
    name = resource.name
    return ScimUserFields(
        user_name=resource.user_name or "",
        external_id=_trim(resource.external_id, 255),
        given_name=_trim(name.given_name if name else None, 150),
        family_name=_trim(name.family_name if name else None, 150),
        display_name=_trim(resource.display_name, 255),
        active=resource.active,
    )


def user_resource(row: ScimUser, base: str) -> Any:
    resource = ScimUserModel(
        id=str(row.pk),
        external_id=row.external_id or None,
        user_name=row.user_name,
        display_name=row.display_name or None,
        active=row.active,
        meta=Meta(
            resource_type="User",
            created=row.created_at,
            last_modified=row.updated_at,
            location=f"{base}Users/{row.pk}",
        ),
    )
    if row.given_name or row.family_name:
        resource.name = Name(
            given_name=row.given_name or None, family_name=row.family_name or None
        )
    try:
        resource.emails = [
            Email(value=row.user_name_key, primary=True, type=Email.Type.work)
        ]
    except ValueError:
        pass  # an address the library's validator refuses: userName holds it
    return resource


def group_fields(resource: Group) -> ScimGroupFields:
    return ScimGroupFields(
        display_name=resource.display_name or "",
        external_id=_trim(resource.external_id, 255),
        member_ids=tuple(
            str(member.value) for member in resource.members or () if member.value
        ),
    )


def group_resource(row: ScimGroup, base: str, *, with_members: bool) -> Group:
    resource = Group(
        id=str(row.pk),
        external_id=row.external_id or None,
        display_name=row.display_name,
        meta=Meta(
            resource_type="Group",
            created=row.created_at,
            last_modified=row.updated_at,
            location=f"{base}Groups/{row.pk}",
        ),
    )
    if with_members:
        resource.members = [
            GroupMember.model_validate(
                {
                    "value": str(member.pk),
                    "display": member.user_name,
                    "type": "User",
                    "$ref": f"{base}Users/{member.pk}",
                }
            )
            for member in row.members.all()
        ]
    return resource


# ------------------------------------------------------------ handlers


def _not_found(what: str) -> ScimError:
    return ScimError(404, _("No %(what)s with this id.") % {"what": what})


def _method_not_allowed() -> ScimError:
    return ScimError(405, _("This method is not supported here."))


def _query(request: HttpRequest) -> Search:
    """The list's parameters from a GET's query string or a POST .search."""
    if request.method == "POST":
        return search_from_payload(json_from_body(request.body))
    return Search(
        filter=request.GET.get("filter"),
        page=page_params(request.GET.get("startIndex"), request.GET.get("count")),
        attributes=request.GET.get("attributes"),
        excluded=request.GET.get("excludedAttributes"),
    )


def _params(request: HttpRequest, model: type) -> Any:
    return response_params(
        model, request.GET.get("attributes"), request.GET.get("excludedAttributes")
    )


def _users_list(request: HttpRequest, token: ScimToken, base: str) -> HttpResponse:
    query = _query(request)
    params = response_params(ScimUserModel, query.attributes, query.excluded)
    terms = filter_terms(query.filter, ScimUserModel, USER_FILTER_ATTRS)
    rows, total = scim_users_page(
        token.organization, terms, query.page.start_index, query.page.count
    )
    return scim_response(
        list_response(
            [user_resource(row, base) for row in rows],
            total=total,
            start_index=query.page.start_index,
            model=ScimUserModel,
            params=params,
        )
    )


def _users(
    request: HttpRequest, token: ScimToken, scim_id: str, base: str
) -> HttpResponse:
    organization = token.organization
    ip = client_ip(request)
    if not scim_id or scim_id == SEARCH:
        if request.method == "GET" and not scim_id:
            return _users_list(request, token, base)
        if request.method == "POST" and scim_id == SEARCH:
            return _users_list(request, token, base)
        if request.method == "POST":
            resource = user_from_payload(json_from_body(request.body))
            row = scim_user_create(token=token, fields=user_fields(resource), ip=ip)
            data = dump(user_resource(row, base), _params(request, ScimUserModel))
            return scim_response(data, 201, Location=f"{base}Users/{row.pk}")
        raise _method_not_allowed()
    found = scim_user_get(organization, scim_id)
    if found is None:
        raise _not_found(_("user"))
    params = _params(request, ScimUserModel)
    if request.method == "GET":
        return scim_response(dump(user_resource(found, base), params))
    if request.method == "PUT":
        resource = user_from_payload(json_from_body(request.body), replace=True)
        row = scim_user_replace(
            token=token, scim_user=found, fields=user_fields(resource), ip=ip
        )
        return scim_response(dump(user_resource(row, base), params))
    if request.method == "PATCH":
        patch = patch_from_payload(json_from_body(request.body), ScimUserModel)
        patched = patch_apply(patch, user_resource(found, base))
        row = scim_user_replace(
            token=token, scim_user=found, fields=user_fields(patched), ip=ip
        )
        return scim_response(dump(user_resource(row, base), params))
    if request.method == "DELETE":
        scim_user_delete(token=token, scim_user=found, ip=ip)
        return HttpResponse(status=204)
    raise _method_not_allowed()


def _groups_list(request: HttpRequest, token: ScimToken, base: str) -> HttpResponse:
    query = _query(request)
    params = response_params(Group, query.attributes, query.excluded)
    with_members = not excludes(params, "members")
    terms = filter_terms(query.filter, Group, GROUP_FILTER_ATTRS)
    rows, total = scim_groups_page(
        token.organization,
        terms,
        query.page.start_index,
        query.page.count,
        with_members=with_members,
    )
    return scim_response(
        list_response(
            [group_resource(row, base, with_members=with_members) for row in rows],
            total=total,
            start_index=query.page.start_index,
            model=Group,
            params=params,
        )
    )


def _groups(
    request: HttpRequest, token: ScimToken, scim_id: str, base: str
) -> HttpResponse:
    organization = token.organization
    ip = client_ip(request)
    if not scim_id or scim_id == SEARCH:
        if request.method == "GET" and not scim_id:
            return _groups_list(request, token, base)
        if request.method == "POST" and scim_id == SEARCH:
            return _groups_list(request, token, base)
        if request.method == "POST":
            resource = group_from_payload(json_from_body(request.body))
            row = scim_group_create(token=token, fields=group_fields(resource), ip=ip)
            data = dump(
                group_resource(row, base, with_members=True), _params(request, Group)
            )
            return scim_response(data, 201, Location=f"{base}Groups/{row.pk}")
        raise _method_not_allowed()
    found = scim_group_get(organization, scim_id)
    if found is None:
        raise _not_found(_("group"))
    params = _params(request, Group)
    with_members = not excludes(params, "members")
    if request.method == "GET":
        data = dump(group_resource(found, base, with_members=with_members), params)
        return scim_response(data)
    if request.method == "PUT":
        resource = group_from_payload(json_from_body(request.body), replace=True)
        row = scim_group_replace(
            token=token, group=found, fields=group_fields(resource), ip=ip
        )
        data = dump(group_resource(row, base, with_members=with_members), params)
        return scim_response(data)
    if request.method == "PATCH":
        patch = patch_from_payload(json_from_body(request.body), Group)
        patched = patch_apply(patch, group_resource(found, base, with_members=True))
        row = scim_group_replace(
            token=token, group=found, fields=group_fields(patched), ip=ip
        )
        if params is None:
            # Okta and Entra ignore the body of a group PATCH; 204 saves a read.
            return HttpResponse(status=204)
        data = dump(group_resource(row, base, with_members=with_members), params)
        return scim_response(data)
    if request.method == "DELETE":
        scim_group_delete(token=token, group=found, ip=ip)
        return HttpResponse(status=204)
    raise _method_not_allowed()


def _discovery(request: HttpRequest, resource: str, scim_id: str) -> HttpResponse:
    if request.method != "GET":
        raise _method_not_allowed()
    if resource == "ServiceProviderConfig":
        docs = settings.SITE_URL.rstrip("/") + reverse("scim_guide")
        return scim_response(service_provider_config(docs))
    found = resource_types() if resource == "ResourceTypes" else schemas()
    if scim_id:
        for item in found:
            if item.get("id") == scim_id:
                return scim_response(item)
        raise _not_found(_("resource type or schema"))
    return scim_response(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(found),
            "startIndex": 1,
            "itemsPerPage": len(found),
            "Resources": found,
        }
    )


HANDLERS = {"Users": _users, "Groups": _groups}
DISCOVERY = {"ServiceProviderConfig", "ResourceTypes", "Schemas"}


def _bearer(request: HttpRequest) -> str:
    scheme, _space, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@csrf_exempt
def scim_endpoint(
    request: HttpRequest, org: str, resource: str = "", scim_id: str = ""
) -> HttpResponse:
    """Every SCIM request of an organization's base URL."""
    unauthorized = ScimError(
        401,
        _(
            "Send a live SCIM token of this organization as 'Authorization: Bearer "
            "<token>'. Create one on the console's Directory sync page."
        ),
    )
    login_path = login_path_lookup(org)
    token = (
        token_authenticate(login_path=login_path, raw=_bearer(request))
        if login_path
        else None
    )
    if token is None:
        return scim_error_response(unauthorized, WWW_Authenticate='Bearer realm="scim"')
    if token_rate_exceeded(token):
        return scim_error_response(
            ScimError(
                429,
                _("Too many requests with this token; slow down and retry."),
            ),
            Retry_After="60",
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # Checked before the body is read: Django reads CONTENT_LENGTH bytes.
    if length > settings.SCIM_MAX_BODY_BYTES:
        return scim_error_response(
            ScimError(
                413,
                _("The request body is larger than %(max)d bytes.")
                % {"max": settings.SCIM_MAX_BODY_BYTES},
            )
        )
    try:
        if resource in DISCOVERY:
            return _discovery(request, resource, scim_id)
        if resource == SEARCH:
            raise ScimError(
                501,
                _(
                    "Searching several resource types at once is not supported: "
                    "POST to Users/.search or Groups/.search."
                ),
            )
        handler = HANDLERS.get(resource)
        if handler is None:
            raise ScimError(404, _("There is no such SCIM endpoint."))
        return handler(request, token, scim_id, base_url(token.organization.login_path))
    except ScimError as exc:
        return scim_error_response(exc)
    except DirectoryRefused as exc:
        return scim_error_response(ScimError(exc.status, str(exc), exc.scim_type))
    except ServiceError as exc:
        return scim_error_response(ScimError(400, str(exc), "invalidValue"))
