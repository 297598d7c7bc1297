from django.http import HttpResponse
from django.urls import include, path


def home(request):
    who = request.user.email if request.user.is_authenticated else "anonymous"
    return HttpResponse(f"signed in as {who}")


urlpatterns = [path("", home), path("oidc/", include("mozilla_django_oidc.urls"))]
