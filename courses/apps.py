from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "courses"

    def ready(self) -> None:
        from gradefreeze import checks  # noqa: F401  (registers the settings' range checks)
