from django.apps import AppConfig


class InferapiConfig(AppConfig):
    name = "inferapi"
    verbose_name = "Classification API"

    def ready(self) -> None:
        from inferapi import schema  # noqa: F401  registers the OpenAPI extensions
