from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"

    def ready(self) -> None:
        # Registers the replayers of the re-plan and fallback decision records.
        from execution import fallback, replan  # noqa: F401
