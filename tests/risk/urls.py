"""The desk's URLs plus the risk API at the place the lead mounts it (``/api/v1/risk/``)."""

from django.urls import include, path

from desk.urls import urlpatterns as desk_urlpatterns

urlpatterns = [
    path("api/v1/risk/", include("risk.urls")),
    *desk_urlpatterns,
]
