"""The TorchServe and Nginx configuration of a local stack, rendered from the templates that
Docker compose uses unchanged.

Compose fills the templates in with envsubst, this module with `string.Template.safe_substitute`:
both replace only the names they are given, so Nginx's own `$remote_addr` and the like survive.
Placeholders are written `${NAME}`; Nginx variables never use braces in these templates.
"""

import re
import string
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TORCHSERVE_TEMPLATE = REPO / "torchserve" / "config.properties"
INTERNAL_NGINX_TEMPLATE = REPO / "docker" / "nginx" / "internal.conf.template"
EXTERNAL_NGINX_TEMPLATE = REPO / "docker" / "nginx" / "external.conf.template"
NGINX_MIME_TYPES = Path("/etc/nginx/mime.types")

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The secret sits between double quotes in an Nginx map, and Nginx compares it case-insensitively.
GATEWAY_SECRET = re.compile(r"[A-Za-z0-9_-]{32,110}")


class TemplateError(ValueError):
    """A template holds a placeholder that was given no value."""


@dataclass(frozen=True)
class TorchServePorts:
    inference: int
    management: int
    metrics: int
    grpc_inference: int
    grpc_management: int
    worker: int


def render_template(text: str, values: dict[str, str]) -> str:
    """Fill in `${NAME}` and `$NAME` for the given names only, as envsubst does."""
    if "$$" in text:
        raise TemplateError("'$$' would become '$' here but stay '$$' under envsubst")
    missing = sorted(set(PLACEHOLDER.findall(text)) - values.keys())
    if missing:
        raise TemplateError(f"no value given for {', '.join(missing)}")
    return string.Template(text).safe_substitute(values)


def upstream_servers(addresses: list[str]) -> str:
    """Upstream `server` lines with passive health checks: two failures put one aside for 5 s."""
    return "\n    ".join(f"server {address} max_fails=2 fail_timeout=5s;" for address in addresses)


def nginx_duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def torchserve_config(
    *, ports: TorchServePorts, model_store: Path, workers: int, jvm_heap: str = "512m"
) -> str:
    values = {
        "TS_BIND_ADDRESS": "127.0.0.1",
        "TS_INFERENCE_PORT": str(ports.inference),
        "TS_MANAGEMENT_PORT": str(ports.management),
        "TS_METRICS_PORT": str(ports.metrics),
        "TS_GRPC_INFERENCE_PORT": str(ports.grpc_inference),
        "TS_GRPC_MANAGEMENT_PORT": str(ports.grpc_management),
        "TS_WORKER_PORT": str(ports.worker),
        "TS_MODEL_STORE": str(model_store),
        "TS_WORKERS": str(workers),
        "TS_JVM_HEAP": jvm_heap,
    }
    return render_template(TORCHSERVE_TEMPLATE.read_text(), values)


def gateway_secret_check(secret: str) -> None:
    if not GATEWAY_SECRET.fullmatch(secret):
        raise ValueError("the gateway secret must be 32 to 110 of A-Z a-z 0-9 _ -")


def internal_nginx_conf(
    *,
    torchserve_addresses: list[str],
    listen: str,
    health_listen: str,
    secret: str,
    read_timeout: float,
) -> str:
    gateway_secret_check(secret)
    values = {
        "TORCHSERVE_SERVERS": upstream_servers(torchserve_addresses),
        "MODEL_GATEWAY_LISTEN": listen,
        "MODEL_GATEWAY_HEALTH_LISTEN": health_listen,
        "MODEL_GATEWAY_SECRET": secret,
        "MODEL_GATEWAY_READ_TIMEOUT": nginx_duration(read_timeout),
        "MODEL_GATEWAY_RESOLVER": "",
    }
    return render_template(INTERNAL_NGINX_TEMPLATE.read_text(), values)


def external_nginx_conf(*, web_addresses: list[str], listen: str) -> str:
    values = {
        "WEB_SERVERS": upstream_servers(web_addresses),
        "GATEWAY_LISTEN": listen,
        "GATEWAY_RESOLVER": "",
    }
    return render_template(EXTERNAL_NGINX_TEMPLATE.read_text(), values)


def nginx_main_conf(prefix: Path, include: Path) -> str:
    """A top-level nginx.conf for a foreground Nginx that writes only under `prefix`."""
    temp = prefix / "temp"
    return f"""\
worker_processes 2;
pid "{prefix / "nginx.pid"}";
error_log "{prefix / "logs" / "error.log"}" warn;

events {{
    worker_connections 1024;
}}

http {{
    include "{NGINX_MIME_TYPES}";
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path "{temp / "client_body"}";
    proxy_temp_path "{temp / "proxy"}";
    fastcgi_temp_path "{temp / "fastcgi"}";
    uwsgi_temp_path "{temp / "uwsgi"}";
    scgi_temp_path "{temp / "scgi"}";
    access_log "{prefix / "logs" / "access.log"}";
    include "{include}";
}}
"""
