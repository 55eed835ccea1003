"""The risk API, mounted under ``/api/v1/risk/``."""

from django.urls import path

from risk import api

urlpatterns = [
    path("limits/", api.LimitListApi.as_view(), name="risk-limits"),
    path("limits/set/", api.LimitSetApi.as_view(), name="risk-limit-set"),
    path("limits/usage/", api.LimitUsageApi.as_view(), name="risk-limit-usage"),
    path("kill-switches/", api.KillSwitchListApi.as_view(), name="risk-kill-switches"),
    path("kill-switches/engage/", api.KillSwitchEngageApi.as_view(), name="risk-kill-switch-engage"),
    path("kill-switches/rearm/", api.KillSwitchRearmApi.as_view(), name="risk-kill-switch-rearm"),
    path("kill-switches/state/", api.ScopeStateSetApi.as_view(), name="risk-scope-state"),
    path("alerts/", api.AlertListApi.as_view(), name="risk-alerts"),
    path("market-health/", api.MarketHealthListApi.as_view(), name="risk-market-health"),
    path("alerts/<int:pk>/acknowledge/", api.AlertAcknowledgeApi.as_view(), name="risk-alert-acknowledge"),
]
