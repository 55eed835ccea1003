from django.urls import path

from rfq.api import dealer, desk

urlpatterns = [
    path("orders/", desk.DeskOrderListApi.as_view(), name="orders"),
    path("rfqs/", desk.RFQListApi.as_view(), name="rfqs"),
    path("rfqs/<str:reference>/", desk.RFQDetailApi.as_view(), name="rfq"),
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
