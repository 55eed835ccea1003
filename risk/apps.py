from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "risk"

    def ready(self) -> None:
        # Registers the replayer of risk_action decisions.
        from risk import telemetry_services  # noqa: F401
