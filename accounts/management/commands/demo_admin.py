"""Create (once) the demo's staff account and print its credentials.

The password is random, generated on first run and kept in ``var/`` (never in git) so re-running
`make demo` prints the same credentials instead of silently changing them.
"""

import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User


class Command(BaseCommand):
    help = "Create the demo staff account (if missing) and print its username and password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: object, username: str, **options: object) -> None:
        secret_file = Path(settings.VAR_DIR) / f"demo-{username}-password"
        user = User.objects.filter(username=username).first()
        if (
            user is None
            or not secret_file.exists()
            or not user.check_password(secret_file.read_text().strip())
        ):
            password = secrets.token_urlsafe(12)
            if user is None:
                user = User.objects.create_superuser(
                    username=username, email=f"{username}@localhost", password=password
                )
            else:
                user.set_password(password)
                user.is_staff = user.is_superuser = True
                user.save()
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(password + "\n")
            secret_file.chmod(0o600)
        password = secret_file.read_text().strip()
        self.stdout.write(
            self.style.SUCCESS(
                f"Staff account: username {username!r}, password {password!r} (admin at /admin/)"
            )
        )
