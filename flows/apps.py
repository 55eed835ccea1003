from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = "Flows"

    def ready(self) -> None:
        from flows.subscriptions import flows_subscribe

        flows_subscribe()
