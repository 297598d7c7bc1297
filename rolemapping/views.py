"""The role-mapping page: group mappings, sign-in settings and the impact preview.

A change that could move IdP-managed members to another role (or out) is shown
first as a preview: how many would change role or lose access at their next
sign-in, from the groups stored at their last one. The preview re-posts
the same fields with ``confirm=1`` to save.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from organizations.access import (
    OrgContext,
    client_ip,
    org_view,
    page_number,
    wants_json,
)
from organizations.errors import ServiceError
from rolemapping.forms import MappingForm, ProvisioningSettingsForm
from rolemapping.models import GroupRoleMapping, Membership, Role
from rolemapping.selectors import (
    grantable_roles,
    mappings_page,
    members_page,
    org_mappings,
)
from rolemapping.services import (
    idp_group_clean,
    impact_preview,
    mapping_delete,
    mapping_set,
    membership_change_role,
    provisioning_settings_update,
)

PAGE_SIZE = 50
# The preview names at most this many people per list; the counts are exact.
PREVIEW_NAMES = 20


def _current_default(org: OrgContext, roles: Sequence[Role]) -> str | None:
    # Only a role that still exists (and is grantable) counts.
    slug = org.organization.default_role
    return slug if any(r.slug == slug for r in roles) else None


def _settings_initial(org: OrgContext, roles: Sequence[Role]) -> dict:
    return {
        "default_role": _current_default(org, roles) or "",
        "only_mapped_groups": org.organization.only_mapped_groups,
        "invitation_only": org.organization.invitation_only,
    }


def _render_page(
    request: HttpRequest,
    org: OrgContext,
    roles: Sequence[Role],
    *,
    form: MappingForm | None = None,
    settings_form: ProvisioningSettingsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    page = mappings_page(org.organization, page_number(request), PAGE_SIZE)
    return render(
        request,
        "rolemapping/mappings.html",
        {
            "page": page,
            "form": form or MappingForm(roles=roles),
            "settings_form": settings_form
            or ProvisioningSettingsForm(
                initial=_settings_initial(org, roles), roles=roles
            ),
            "default_role": _current_default(org, roles),
            "can_manage": org.can("mappings.manage"),
        },
        status=status,
    )


def _preview(
    request: HttpRequest,
    org: OrgContext,
    *,
    mappings: Mapping[str, str],
    default_role: str | None,
    only_mapped_groups: bool,
    change: str,
    action: str,
    fields: Sequence[tuple[str, str]],
) -> HttpResponse | None:
    """The confirmation page, or None when the change may be saved now."""
    if request.POST.get("confirm") == "1":
        return None
    impact = impact_preview(
        organization=org.organization,
        mappings=mappings,
        default_role=default_role,
        only_mapped_groups=only_mapped_groups,
    )
    if impact.managed_count == 0:
        # Nobody's role comes from the IdP yet, so nothing can change.
        return None
    return render(
        request,
        "rolemapping/impact_preview.html",
        {
            "impact": impact,
            "change": change,
            "action": action,
            "fields": fields,
            "limit": PREVIEW_NAMES,
        },
    )


@require_http_methods(["GET", "POST"])
@org_view("console.view")
def mappings(request: HttpRequest, org: OrgContext) -> HttpResponse:
    """List the mappings; POST ``idp_group`` and ``role`` adds or changes one."""
    roles = grantable_roles(org.organization)
    if request.method == "GET":
        if wants_json(request):
            page = mappings_page(org.organization, page_number(request), PAGE_SIZE)
            return JsonResponse(
                {
                    "default_role": _current_default(org, roles),
                    "only_mapped_groups": org.organization.only_mapped_groups,
                    "invitation_only": org.organization.invitation_only,
                    "mappings": [
                        {
                            "id": m.pk,
                            "idp_group": m.idp_group,
                            "role": m.role.slug,
                            "display_name": m.display_name or "",
                        }
                        for m in page
                    ],
                }
            )
        return _render_page(request, org, roles)

    if not org.can("mappings.manage"):
        raise PermissionDenied(
            _("Only owners and admins can change role mappings and sign-in settings.")
        )
    form = MappingForm(request.POST, roles=roles)
    if form.is_valid():
        try:
            name = idp_group_clean(form.cleaned_data["idp_group"])
        except ServiceError as exc:
            form.add_error("idp_group", str(exc))
    if not form.is_valid():
        return _render_page(request, org, roles, form=form, status=400)

    role = form.cleaned_data["role"]
    current = org_mappings(org.organization)
    if current.get(name) != role:
        after = {**current, name: role}
        before = current.get(name)
        change = (
            _('Map the group "%(group)s" to %(role)s') % {"group": name, "role": role}
            if before is None
            else _('Change the group "%(group)s" from %(before)s to %(role)s')
            % {"group": name, "before": before, "role": role}
        )
        preview = _preview(
            request,
            org,
            mappings=after,
            default_role=_current_default(org, roles),
            only_mapped_groups=org.organization.only_mapped_groups,
            change=change,
            action=reverse("mappings", args=[org.organization.login_path]),
            fields=[("idp_group", name), ("role", role)],
        )
        if preview is not None:
            return preview
    try:
        mapping_set(
            actor_membership=org.membership,
            idp_group=name,
            role_slug=role,
            ip=client_ip(request),
        )
    except ServiceError as exc:
        form.add_error(None, str(exc))
        return _render_page(request, org, roles, form=form, status=400)
    if current.get(name) == role:
        messages.info(
            request,
            _('The group "%(group)s" already maps to %(role)s.')
            % {"group": name, "role": role},
        )
    else:
        messages.success(
            request,
            _(
                'The group "%(group)s" now maps to %(role)s. Members get it at '
                "their next sign-in."
            )
            % {"group": name, "role": role},
        )
    return redirect("mappings", org.organization.login_path)


@require_POST
@org_view("mappings.manage")
def mapping_delete_view(
    request: HttpRequest, org: OrgContext, mapping_id: int
) -> HttpResponse:
    """Delete a mapping, after the impact preview."""
    mapping = get_object_or_404(
        GroupRoleMapping.objects.select_related("role"),
        pk=mapping_id,
        organization=org.organization,
    )
    current = org_mappings(org.organization)
    after = {g: r for g, r in current.items() if g != mapping.idp_group}
    roles = grantable_roles(org.organization)
    preview = _preview(
        request,
        org,
        mappings=after,
        default_role=_current_default(org, roles),
        only_mapped_groups=org.organization.only_mapped_groups,
        change=_('Delete the mapping of the group "%(group)s" to %(role)s')
        % {"group": mapping.idp_group, "role": mapping.role.slug},
        action=reverse(
            "mapping_delete", args=[org.organization.login_path, mapping.pk]
        ),
        fields=[],
    )
    if preview is not None:
        return preview
    try:
        mapping_delete(
            actor_membership=org.membership, mapping=mapping, ip=client_ip(request)
        )
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _('The mapping of the group "%(group)s" was deleted.')
            % {"group": mapping.idp_group},
        )
    return redirect("mappings", org.organization.login_path)


@require_POST
@org_view("mappings.manage")
def mapping_settings(request: HttpRequest, org: OrgContext) -> HttpResponse:
    """Save the default role, "only mapped groups" and "invitation only"."""
    roles = grantable_roles(org.organization)
    form = ProvisioningSettingsForm(request.POST, roles=roles)
    if not form.is_valid():
        return _render_page(request, org, roles, settings_form=form, status=400)
    data = form.cleaned_data
    default_after = data["default_role"] or None
    only_after = data["only_mapped_groups"]
    default_before = _current_default(org, roles)
    only_before = org.organization.only_mapped_groups
    if (default_after, only_after) != (default_before, only_before):
        parts = []
        if default_after != default_before:
            parts.append(
                _("set the default role to %(role)s") % {"role": default_after}
                if default_after
                else _("remove the default role")
            )
        if only_after != only_before:
            parts.append(
                _("let only members of mapped groups sign in")
                if only_after
                else _("let people in no mapped group sign in")
            )
        change = (
            _("%(first)s and %(second)s") % {"first": parts[0], "second": parts[1]}
            if len(parts) == 2
            else parts[0]
        )
        fields = [("default_role", default_after or "")]
        fields += [
            (name, "on")
            for name in ("only_mapped_groups", "invitation_only")
            if data[name]
        ]
        preview = _preview(
            request,
            org,
            mappings=org_mappings(org.organization),
            default_role=default_after,
            only_mapped_groups=only_after,
            change=capfirst(change),
            action=reverse("mapping_settings", args=[org.organization.login_path]),
            fields=fields,
        )
        if preview is not None:
            return preview
    try:
        provisioning_settings_update(
            actor_membership=org.membership,
            default_role_slug=default_after,
            only_mapped_groups=only_after,
            invitation_only=data["invitation_only"],
            ip=client_ip(request),
        )
    except ServiceError as exc:
        form.add_error(None, str(exc))
        return _render_page(request, org, roles, settings_form=form, status=400)
    messages.success(request, _("The sign-in settings were saved."))
    return redirect("mappings", org.organization.login_path)


@org_view("console.view")
def member_list(request: HttpRequest, org: OrgContext) -> HttpResponse:
    page = members_page(org.organization, page_number(request), PAGE_SIZE)
    if wants_json(request):
        return JsonResponse(
            [
                {
                    "email": m.user.email,
                    "role": m.role.slug,
                    "source": m.source,
                    "managed_by_idp": m.managed_by_idp,
                    "managed_by_directory": m.managed_by_directory,
                    "is_active": m.is_active,
                }
                for m in page
            ],
            safe=False,
        )
    roles = [
        (slug, label) for slug, label in Role.Slug.choices if slug != Role.Slug.OWNER
    ]
    return render(
        request,
        "rolemapping/members.html",
        {"page": page, "roles": roles, "can_manage": org.can("members.manage")},
    )


@require_POST
@org_view("members.manage")
def member_role(request: HttpRequest, org: OrgContext, member_id: int) -> HttpResponse:
    membership = get_object_or_404(
        Membership.objects.select_related("user", "role"),
        pk=member_id,
        organization=org.organization,
    )
    try:
        membership_change_role(
            actor_membership=org.membership,
            membership=membership,
            role_slug=request.POST.get("role", ""),
            ip=client_ip(request),
        )
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("member_list", org.organization.login_path)
    messages.success(
        request,
        _("%(email)s's role was changed.") % {"email": membership.user.email},
    )
    return redirect("member_list", org.organization.login_path)
