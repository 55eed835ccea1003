"""Read queries of dealer scoring: the live model version and the scores it gives."""

from __future__ import annotations

import pandas as pd

from rfq.models import ScoringModelStatus, ScoringModelVersion
from rfq.scoring.scores import Context, dealer_estimates


def scoring_model_live() -> ScoringModelVersion | None:
    """The live scoring model version, or None when none was promoted yet."""
    return ScoringModelVersion.objects.filter(status=ScoringModelStatus.LIVE).first()


def scoring_estimates_live(*, dealers: list[str], context: Context) -> pd.DataFrame | None:
    """The live model's estimates for ``dealers`` in ``context`` (see :func:`~rfq.scoring.scores.dealer_estimates`);
    None without a live model."""
    live = scoring_model_live()
    if live is None:
        return None
    return dealer_estimates(live.artifact, dealers, context)
