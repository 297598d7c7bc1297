from django.apps import AppConfig


class RolemappingConfig(AppConfig):
    name = "rolemapping"
    verbose_name = "Roles and group mappings"
