"""inferapi settings: every environment variable is read here, once, and parsed strictly.

Embedded defaults (SQLite, in-process cache, the model run in-process) let one command run the
service on a fresh machine; production values come from the environment or `NAME_FILE` secrets.
"""

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {value!r}.")
    return value.lower() == "true"


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
    if number < minimum or (maximum is not None and number > maximum):
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, not {number}.")
    return number


def env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {value!r}.") from None
    if not minimum <= number <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, not {number}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_networks(
    name: str, default: list[str]
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(item) for item in env_list(name, default)]
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be a list of CIDR networks: {error}.") from None


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def env_secret(name: str) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    path = env_str(f"{name}_FILE")
    if path is None:
        return env_str(name)
    try:
        return Path(path).read_text().strip() or None
    except OSError as error:
        raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {error}.") from None


def database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        name = unquote(parts.path.removeprefix("/")) if parts.path not in ("", "/") else None
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / (name or "db.sqlite3")}
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.removeprefix("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "OPTIONS": {"connect_timeout": 3},
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(f"DATABASE_URL must start with sqlite:// or postgres://: {url!r}.")


DEBUG = env_bool("DEBUG", False)


def required_secret(name: str, *, debug_default: str, min_length: int) -> str:
    value = env_secret(name)
    if value is None:
        if not DEBUG:
            raise ImproperlyConfigured(
                f"{name} (or {name}_FILE) must be set when DEBUG is false; see .env.example."
            )
        return debug_default
    if len(value.encode()) < min_length:
        raise ImproperlyConfigured(f"{name} must be at least {min_length} bytes long.")
    return value


SECRET_KEY = required_secret(
    "SECRET_KEY", debug_default="insecure-debug-only-secret-key-for-local-use", min_length=32
)
JWT_SIGNING_KEY = required_secret(
    "JWT_SIGNING_KEY", debug_default="insecure-debug-only-jwt-signing-key-local", min_length=32
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "csp",
    "django_ratelimit",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "inferapi",
]

MIDDLEWARE = [
    "inferapi.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "inferapi.middleware.ScopedCSPMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "inferapi.urls"
WSGI_APPLICATION = "inferapi.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Behind HTTPS (terminated by the external Nginx or a load balancer in front of it).
HTTPS = env_bool("HTTPS", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Liveness and readiness are asked over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Cross-origin API use: only listed origins, only /api/, no cookies.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "POST", "OPTIONS")
CORS_ALLOW_HEADERS = ("authorization", "content-type", "x-request-id")
CORS_EXPOSE_HEADERS = ("Retry-After", "X-Request-ID")
CORS_PREFLIGHT_MAX_AGE = 3600

# The page's policy: no inline script anywhere. The admin and the API's HTML pages (browsable
# API, Swagger UI) also load their scripts from 'self' but set inline styles: see
# inferapi.middleware.ScopedCSPMiddleware for the one exception, scoped to their paths.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
INLINE_STYLE_PATH_PREFIXES = ("/admin/", "/api/")

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", "sqlite:///db.sqlite3"))}
# The password can stay out of DATABASE_URL: DATABASE_PASSWORD or DATABASE_PASSWORD_FILE.
if env_secret("DATABASE_PASSWORD") is not None:
    DATABASES["default"]["PASSWORD"] = env_secret("DATABASE_PASSWORD")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
SILENCED_SYSTEM_CHECKS = [
    # django-ratelimit knows django-redis, not Django's own RedisCache; the latter's add (SET NX)
    # and incr (INCRBY) are atomic, which is all the counter needs.
    "django_ratelimit.W001",
    # HSTS preload commits the whole domain for good: an operator's opt-in (SECURE_HSTS_PRELOAD).
    "security.W021",
]
# Per client IP, over every /api/ endpoint together; counted in the cache, so with Redis every
# replica shares one budget. `N/Pu`: N requests per P units of s, m, h or d.
RATELIMIT_RATE = env_str("RATELIMIT_RATE", "100/15m")
if not re.fullmatch(r"[1-9][0-9]*/[1-9][0-9]*[smhd]", RATELIMIT_RATE):
    raise ImproperlyConfigured(f"RATELIMIT_RATE must look like 100/15m, not {RATELIMIT_RATE!r}.")
RATELIMIT_EXCEPTION_CLASS = "rest_framework.exceptions.Throttled"
# Proxies whose X-Real-IP / X-Forwarded-For is believed: the external Nginx.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", [])
# Store audit IPs truncated (IPv4 to /24, IPv6 to /48) for privacy; the rate limit still
# counts full addresses.
AUDIT_TRUNCATE_IPS = env_bool("AUDIT_TRUNCATE_IPS", False)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    # Embedded single-process mode only: gunicorn refuses to start without REDIS_URL
    # (gunicorn.conf.py), and django-ratelimit's check against this cache is silenced here.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Served from the app's static folders directly, so no collectstatic step is needed to run.
WHITENOISE_USE_FINDERS = True

# The classification API.
MODEL_BACKEND = env_choice("MODEL_BACKEND", "local", ("local", "torchserve"))
MODEL_NAME = env_str("MODEL_NAME", "digits")
MODEL_STORE = BASE_DIR / env_str("MODEL_STORE", "model_store")
# The `torchserve` backend talks to the internal Nginx in front of the TorchServe replicas.
MODEL_SERVER_URL = env_str("MODEL_SERVER_URL")
MODEL_SERVER_SECRET = env_secret("MODEL_SERVER_SECRET")
MODEL_CONNECT_TIMEOUT = env_float("MODEL_CONNECT_TIMEOUT", 1.0, minimum=0.05, maximum=30)
MODEL_READ_TIMEOUT = env_float("MODEL_READ_TIMEOUT", 10.0, minimum=0.05, maximum=300)
if MODEL_BACKEND == "torchserve" and not (MODEL_SERVER_URL and MODEL_SERVER_SECRET):
    raise ImproperlyConfigured(
        "MODEL_BACKEND=torchserve needs MODEL_SERVER_URL and MODEL_SERVER_SECRET (or _FILE)."
    )
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 5 * 1024 * 1024, minimum=1024)
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 40_000_000, minimum=1)
# Multipart framing around the image; a body larger than this is refused before it is read.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

JWT_LIFETIME_SECONDS = env_int("JWT_LIFETIME_SECONDS", 3600, minimum=60, maximum=86400)
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "VERIFYING_KEY": "",
    "AUDIENCE": env_str("JWT_AUDIENCE", "inferapi"),
    "ISSUER": env_str("JWT_ISSUER", "inferapi"),
    "LEEWAY": 0,
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=JWT_LIFETIME_SECONDS),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_CLAIM": "sub",
    "JTI_CLAIM": "jti",
    "TOKEN_TYPE_CLAIM": "token_type",
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.VisitorAccessToken",),
    "UPDATE_LAST_LOGIN": False,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.VisitorJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "inferapi.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "inferapi",
    "DESCRIPTION": (
        "Image classification. Get an anonymous token from POST /api/v1/token/, then send it as "
        "`Authorization: Bearer <token>` with every call. Every error is JSON "
        '`{"detail": "...", "code": "..."}`; clients match on `code`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
