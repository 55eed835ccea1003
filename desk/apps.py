from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DeskConfig(AppConfig):
    name = "desk"
    verbose_name = "Desk"

    def ready(self) -> None:
        import desk.schema  # noqa: F401 - registers the DealerKey scheme with drf-spectacular
        from desk.roles import roles_sync_after_migrate

        # Permissions exist only after post_migrate has created them: role groups are synced right after.
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="desk.roles_sync")
