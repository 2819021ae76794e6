from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        """Tokens are encrypted at rest and secrets redacted from logs in every process."""
        from dashboard import checks  # noqa: F401  (registers the key checks)
        from dashboard.edx_tokens import connect_token_encryption
        from gradefreeze.redaction import install_log_redaction

        connect_token_encryption()
        install_log_redaction()
