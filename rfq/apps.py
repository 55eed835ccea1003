from django.apps import AppConfig


class RFQConfig(AppConfig):
    name = "rfq"
    verbose_name = "RFQ"

    def ready(self) -> None:
        # Registers the replayers of the engine's decision records (selection, advice, re-ask, automatic acceptance).
        from rfq.engine import auto, reask, recommend, selection  # noqa: F401
