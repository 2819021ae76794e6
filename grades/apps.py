from django.apps import AppConfig


class GradesConfig(AppConfig):
    name = "grades"

    def ready(self) -> None:
        from grades import audit  # noqa: F401  (connects the audit signal handlers)
