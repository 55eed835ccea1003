from django.apps import AppConfig


class RFQConfig(AppConfig):
    name = "rfq"
    verbose_name = "RFQ"
