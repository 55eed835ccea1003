"""The desk's pages, one module per area; ``desk.pages.<view>`` names stay importable for ``desk/urls.py``."""

from desk.pages.common import base_context, desk_page
from desk.pages.dealers import dealers_page, model_promote, model_rollback, models_page
from desk.pages.execution import execution_action, execution_detail, execution_list
from desk.pages.positions import positions_page
from desk.pages.trading import (
    compliance,
    rfq_act_page,
    rfq_auto_panel,
    rfq_board,
    rfq_new,
    risk_alert_ack,
    risk_engage,
    risk_page,
    risk_rearm,
    risk_reduce,
)

__all__ = [
    "base_context",
    "compliance",
    "dealers_page",
    "desk_page",
    "execution_action",
    "execution_detail",
    "execution_list",
    "model_promote",
    "model_rollback",
    "models_page",
    "positions_page",
    "rfq_act_page",
    "rfq_auto_panel",
    "rfq_board",
    "rfq_new",
    "risk_alert_ack",
    "risk_engage",
    "risk_page",
    "risk_rearm",
    "risk_reduce",
]
