from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from organizations.access import SSO_SESSION_KEY, active_memberships


class SecurityHeadersMiddleware:
    """Headers Django does not set itself: CSP and a tight Permissions-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        return response


class ActiveMembershipMiddleware:
    """End an SSO session as soon as its membership is deactivated.

    A session signed in through an organization's IdP lives only as long as the
    membership it was granted for: removal at the IdP takes effect on the
    member's next request, not when the session cookie expires.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        org_ids = (
            request.session.get(SSO_SESSION_KEY)
            if request.user.is_authenticated
            else None
        )
        if org_ids:
            active = {m.organization_id for m in active_memberships(request)}
            if not active.issuperset(org_ids) or not request.user.is_active:
                logout(request)
        return self.get_response(request)
