"""OpenAPI description of the desk's own authentication scheme (drf-spectacular extension)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class DealerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "rfq.api.authentication.DealerKeyAuthentication"
    name = "DealerKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`DealerKey <key id>:<secret>`, issued to each dealer at onboarding",
        }
