from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"

    def ready(self) -> None:
        # Registers the replayers of the re-plan, fallback and hedge decision records.
        from execution import fallback, hedging_services, replan  # noqa: F401
