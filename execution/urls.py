"""The execution API, mounted under ``/api/v1/execution/``."""

from django.urls import path

from execution import api, api_params

urlpatterns = [
    path("plans/", api.PlanListApi.as_view(), name="execution-plans"),
    path("plans/create/", api.PlanCreateApi.as_view(), name="execution-plan-create"),
    path("plans/<int:plan_id>/", api.PlanDetailApi.as_view(), name="execution-plan"),
    path("plans/<int:plan_id>/start/", api.PlanStartApi.as_view(), name="execution-plan-start"),
    path("plans/<int:plan_id>/pause/", api.PlanPauseApi.as_view(), name="execution-plan-pause"),
    path("plans/<int:plan_id>/resume/", api.PlanResumeApi.as_view(), name="execution-plan-resume"),
    path("plans/<int:plan_id>/cancel/", api.PlanCancelApi.as_view(), name="execution-plan-cancel"),
    path("plans/<int:plan_id>/fallback-rfq/", api.PlanFallbackRfqApi.as_view(), name="execution-plan-fallback-rfq"),
    path("fill-exceptions/", api.FillExceptionListApi.as_view(), name="execution-fill-exceptions"),
    path(
        "fill-exceptions/<int:exception_id>/review/",
        api.FillExceptionReviewApi.as_view(),
        name="execution-fill-exception-review",
    ),
    path("positions/", api.PositionListApi.as_view(), name="execution-positions"),
    path("algo-params/", api_params.AlgoParamListApi.as_view(), name="execution-algo-params"),
    path("algo-params/rollback/", api_params.AlgoParamRollbackApi.as_view(), name="execution-algo-params-rollback"),
    path(
        "algo-params/<int:version_id>/<str:action>/",
        api_params.AlgoParamActionApi.as_view(),
        name="execution-algo-params-action",
    ),
]
