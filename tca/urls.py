"""The TCA API, mounted under ``/api/v1/tca/`` by ``path("tca/", include("tca.urls"))`` in ``desk/urls.py``."""

from django.urls import path

from tca import api

urlpatterns = [
    path("pretrade/", api.PretradeApi.as_view(), name="tca-pretrade"),
    path("pnl/", api.PnlApi.as_view(), name="tca-pnl"),
    path("rfqs/<str:reference>/confirmation/", api.TradeConfirmationApi.as_view(), name="tca-confirmation"),
]
