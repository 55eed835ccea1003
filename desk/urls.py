from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from desk import api, metrics, pages, views
from desk.pages import status

app_name_desk = [
    path("", views.blotter, name="blotter"),
    path("login/", auth_views.LoginView.as_view(template_name="desk/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("rfq/new/", pages.rfq_new, name="rfq-new"),
    path("rfq/<str:reference>/", pages.rfq_board, name="rfq-board"),
    path("rfq/<str:reference>/act/", pages.rfq_act_page, name="rfq-act"),
    path("rfq/<str:reference>/auto/", pages.rfq_auto_panel, name="rfq-auto"),
    path("risk/", pages.risk_page, name="risk"),
    path("risk/engage/", pages.risk_engage, name="risk-engage"),
    path("risk/rearm/", pages.risk_rearm, name="risk-rearm"),
    path("risk/reduce/", pages.risk_reduce, name="risk-reduce"),
    path("risk/alerts/<int:alert_id>/ack/", pages.risk_alert_ack, name="risk-alert-ack"),
    path("compliance/", pages.compliance, name="compliance"),
    path("execution/", pages.execution_list, name="execution"),
    path("execution/<int:plan_id>/", pages.execution_detail, name="execution-detail"),
    path("execution/<int:plan_id>/<str:action>/", pages.execution_action, name="execution-action"),
    path("dealers/", pages.dealers_page, name="dealers"),
    path("positions/", pages.positions_page, name="positions"),
    path("status/", status.status_bar_fragment, name="status-bar"),
    path("models/", pages.models_page, name="models"),
    path("models/rollback/", pages.model_rollback, name="model-rollback"),
    path("models/<int:version>/promote/", pages.model_promote, name="model-promote"),
    path("tca/", include("desk.pages.tca")),
]

api_v1 = [
    path("me/", api.MeApi.as_view(), name="me"),
    path("ping/", api.PingApi.as_view(), name="ping"),
    path("decisions/", api.DecisionListApi.as_view(), name="decisions"),
    path("decisions/<int:pk>/replay/", api.DecisionReplayApi.as_view(), name="decision-replay"),
    path("", include("rfq.urls")),
    path("risk/", include("risk.urls")),
    path("execution/", include("execution.urls")),
    path("tca/", include("tca.urls")),
]

urlpatterns = [
    path("desk/", include((app_name_desk, "desk"))),
    path("api/v1/", include((api_v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
