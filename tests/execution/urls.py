"""The desk's URLs plus the execution API at the place the lead mounts it (``/api/v1/execution/``)."""

from django.urls import include, path

from desk.urls import urlpatterns as desk_urlpatterns

urlpatterns = [
    path("api/v1/execution/", include("execution.urls")),
    *desk_urlpatterns,
]
