from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from . import services  # noqa: F401 (connects the password-change receiver)
        from .api import authentication  # noqa: F401 (connects the token cache's receivers)
