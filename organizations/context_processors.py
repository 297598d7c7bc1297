from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from organizations.access import active_memberships

# (url name, label, permission); a page appears once its URL exists.
# Members and viewers see only their home: the other pages answer them 403.
NAV = (
    ("org_overview", _("Overview"), "org.view"),
    ("domain_list", _("Domains"), "console.view"),
    ("connection_list", _("Connections"), "console.view"),
    ("setup_link_list", _("Setup links"), "connections.manage"),
    ("mappings", _("Role mapping"), "console.view"),
    ("invitation_list", _("Invitations"), "console.view"),
    ("member_list", _("Members"), "console.view"),
    ("directory", _("Directory sync"), "directory.manage"),
    ("audit_log", _("Audit log"), "console.view"),
)


def console(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    org_ctx = getattr(request, "org", None)
    context = {
        "my_orgs": [m.organization for m in active_memberships(request)],
        "org": org_ctx.organization if org_ctx else None,
        "org_ctx": org_ctx,
    }
    if org_ctx:
        current = request.resolver_match.url_name if request.resolver_match else None
        nav = []
        for name, label, perm in NAV:
            try:
                url = reverse(name, args=[org_ctx.organization.login_path])
            except NoReverseMatch:
                continue
            if org_ctx.can(perm):
                nav.append({"url": url, "label": label, "current": name == current})
        context["nav"] = nav
    return context
