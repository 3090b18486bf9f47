"""Start-up refuses bad configuration loudly; each case runs Django in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 40


def django_check(**env: str) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items() if name not in SETTING_NAMES}
    clean.update(env, DJANGO_SETTINGS_MODULE="inferapi.settings")
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


SETTING_NAMES = {
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "JWT_SIGNING_KEY",
    "JWT_SIGNING_KEY_FILE",
    "MODEL_BACKEND",
    "MAX_UPLOAD_BYTES",
    "DATABASE_URL",
}


def test_it_starts_with_both_secrets_outside_debug():
    result = django_check(SECRET_KEY=GOOD_KEY, JWT_SIGNING_KEY=GOOD_KEY)

    assert result.returncode == 0, result.stderr


def test_it_refuses_to_start_without_secret_key_outside_debug():
    result = django_check(JWT_SIGNING_KEY=GOOD_KEY)

    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is false" in result.stderr


def test_it_refuses_to_start_without_jwt_signing_key_outside_debug():
    result = django_check(SECRET_KEY=GOOD_KEY)

    assert result.returncode != 0
    assert "JWT_SIGNING_KEY (or JWT_SIGNING_KEY_FILE) must be set" in result.stderr


def test_it_starts_in_debug_mode_without_secrets():
    assert django_check(DEBUG="true").returncode == 0


def test_it_refuses_a_short_signing_key():
    result = django_check(SECRET_KEY=GOOD_KEY, JWT_SIGNING_KEY="short")

    assert "JWT_SIGNING_KEY must be at least 32 bytes long" in result.stderr


def test_it_reads_a_secret_from_a_file(tmp_path):
    secret = tmp_path / "jwt_key"
    secret.write_text(GOOD_KEY + "\n")

    result = django_check(SECRET_KEY=GOOD_KEY, JWT_SIGNING_KEY_FILE=str(secret))

    assert result.returncode == 0, result.stderr


def test_it_refuses_an_unreadable_secret_file(tmp_path):
    result = django_check(SECRET_KEY=GOOD_KEY, JWT_SIGNING_KEY_FILE=str(tmp_path / "missing"))

    assert "JWT_SIGNING_KEY_FILE" in result.stderr and "cannot be read" in result.stderr


def test_it_refuses_a_boolean_that_is_not_true_or_false():
    assert "DEBUG must be 'true' or 'false'" in django_check(DEBUG="yes").stderr


def test_it_refuses_an_unknown_model_backend():
    result = django_check(DEBUG="true", MODEL_BACKEND="magic")

    assert "MODEL_BACKEND must be one of" in result.stderr


def test_it_refuses_a_non_numeric_upload_limit():
    result = django_check(DEBUG="true", MAX_UPLOAD_BYTES="5MB")

    assert "MAX_UPLOAD_BYTES must be a whole number" in result.stderr


def test_it_refuses_an_unknown_database_scheme():
    result = django_check(DEBUG="true", DATABASE_URL="mysql://db/inferapi")

    assert "DATABASE_URL must start with sqlite:// or postgres://" in result.stderr


def test_gunicorn_refuses_to_start_without_redis():
    clean = {name: value for name, value in os.environ.items() if name not in SETTING_NAMES}
    clean.pop("REDIS_URL", None)
    clean.update(SECRET_KEY=GOOD_KEY, JWT_SIGNING_KEY=GOOD_KEY)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "--bind", "127.0.0.1:0"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "REDIS_URL must be set under gunicorn" in result.stderr


def test_it_reads_the_database_password_from_a_file(tmp_path):
    secret = tmp_path / "postgres_password"
    secret.write_text("s3cret-from-file\n")
    env = {
        **{name: value for name, value in os.environ.items() if name not in SETTING_NAMES},
        "DEBUG": "true",
        "DATABASE_URL": "postgres://inferapi@db.internal:5432/inferapi",
        "DATABASE_PASSWORD_FILE": str(secret),
        "DJANGO_SETTINGS_MODULE": "inferapi.settings",
    }
    code = "from django.conf import settings; print(settings.DATABASES['default']['PASSWORD'])"

    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip() == "s3cret-from-file", result.stderr
