from django.urls import path

from rfq.api import actions, dealer, desk, engine

urlpatterns = [
    path("orders/", desk.DeskOrderListApi.as_view(), name="orders"),
    path("rfqs/", desk.RFQListApi.as_view(), name="rfqs"),
    path("rfqs/preview/", engine.SelectionPreviewApi.as_view(), name="rfq-preview"),
    path("rfqs/<str:reference>/", desk.RFQDetailApi.as_view(), name="rfq"),
    path("rfqs/<str:reference>/recommendation/", engine.RecommendationApi.as_view(), name="rfq-recommendation"),
    path("rfqs/<str:reference>/act/", engine.RecommendationActApi.as_view(), name="rfq-act"),
    path("rfqs/<str:reference>/cancel/", actions.RFQCancelApi.as_view(), name="rfq-cancel"),
    path("rfqs/<str:reference>/ask-more/", actions.RFQAskMoreApi.as_view(), name="rfq-ask-more"),
    path("auto-limits/", engine.AutoLimitApi.as_view(), name="auto-limits"),
    path("auto-limits/mine/", engine.MyAutoLimitApi.as_view(), name="auto-limit-mine"),
    path("scoring/models/", engine.ScoringModelListApi.as_view(), name="scoring-models"),
    path("quotes/<int:pk>/accept/", desk.QuoteAcceptApi.as_view(), name="quote-accept"),
    path("dealer/rfqs/", dealer.DealerRFQListApi.as_view(), name="dealer-rfqs"),
    path("dealer/rfqs/<str:reference>/", dealer.DealerRFQDetailApi.as_view(), name="dealer-rfq"),
    path(
        "dealer/quote-requests/<str:quote_req_id>/decline/",
        dealer.DealerQuoteRequestDeclineApi.as_view(),
        name="dealer-quote-request-decline",
    ),
    path("dealer/quotes/", dealer.DealerQuoteListApi.as_view(), name="dealer-quotes"),
    path(
        "dealer/quotes/<str:quote_id>/withdraw/", dealer.DealerQuoteWithdrawApi.as_view(), name="dealer-quote-withdraw"
    ),
    path("dealer/orders/", dealer.DealerOrderListApi.as_view(), name="dealer-orders"),
    path("dealer/orders/<str:cl_ord_id>/fill/", dealer.DealerOrderFillApi.as_view(), name="dealer-order-fill"),
    path("dealer/orders/<str:cl_ord_id>/reject/", dealer.DealerOrderRejectApi.as_view(), name="dealer-order-reject"),
]
