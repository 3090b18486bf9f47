"""What can be proved of the Docker deployment without a Docker engine: the compose file's
schema, network isolation, health checks and secrets; the Dockerfiles' lint; the Nginx templates
as compose renders them; and that compose and `make stack` share their config files."""

import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from stack import config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
BIN = Path(sys.executable).parent
DOCKERFILES = sorted(ROOT.glob("docker/*/Dockerfile"))
INTERNAL_ONLY = ("torchserve", "postgres", "redis", "model-gateway", "migrate")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|SIGNING_KEY|TOKEN", re.IGNORECASE)


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_the_compose_file_matches_the_compose_specification():
    result = run(
        str(BIN / "check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        "docker-compose.yml",
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_each_dockerfile_passes_hadolint(dockerfile):
    result = run(str(BIN / "hadolint"), str(dockerfile.relative_to(ROOT)))

    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_a_dockerfile_for_each_image():
    assert [path.parent.name for path in DOCKERFILES] == ["nginx", "torchserve", "web"]


def test_only_the_gateway_publishes_a_port():
    published = {name for name, service in SERVICES.items() if service.get("ports")}

    assert published == {"gateway"}


def test_the_internal_network_has_no_route_out():
    assert COMPOSE["networks"]["internal"]["internal"] is True
    assert not COMPOSE["networks"]["public"].get("internal", False)


@pytest.mark.parametrize("name", INTERNAL_ONLY)
def test_backend_services_sit_on_the_internal_network_only(name):
    assert SERVICES[name]["networks"] == ["internal"]


def test_the_gateway_is_public_only_and_web_bridges_both_networks():
    assert SERVICES["gateway"]["networks"] == ["public"]
    assert sorted(SERVICES["web"]["networks"]) == ["internal", "public"]


@pytest.mark.parametrize("name", sorted(set(SERVICES) - {"migrate"}))
def test_every_server_has_a_health_check(name):
    check = SERVICES[name]["healthcheck"]

    assert check["test"][0] == "CMD"
    assert not check.get("disable", False)


def test_the_migration_job_runs_once_before_web():
    assert SERVICES["migrate"]["command"][-2:] == ["migrate", "--no-input"]
    assert SERVICES["web"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


def test_dependencies_wait_for_health():
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            )
            assert condition == {"condition": expected}, (name, dependency)


@pytest.mark.parametrize("name", ["web", "torchserve"])
def test_web_and_torchserve_run_two_replicas_by_default(name):
    assert SERVICES[name]["deploy"]["replicas"] == 2


def test_no_secret_has_a_literal_value():
    for name, service in SERVICES.items():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(variable) and "ENVSUBST" not in variable:
                assert variable.endswith("_FILE"), (name, variable)
                assert str(value).startswith("/run/secrets/"), (name, variable)
        database_url = (service.get("environment") or {}).get("DATABASE_URL")
        if database_url:
            assert urlsplit(database_url).password is None, name
    for secret in COMPOSE["secrets"].values():
        assert set(secret) == {"file"} and secret["file"].startswith("./secrets/")


def test_services_read_only_the_secrets_they_need():
    assert SERVICES["model-gateway"]["secrets"] == ["model_gateway_secret"]
    assert SERVICES["postgres"]["secrets"] == ["postgres_password"]
    assert "secrets" not in SERVICES["torchserve"] and "secrets" not in SERVICES["redis"]


def compose_rendered(service: str, template: Path) -> str:
    """The template filled in exactly as the nginx image's envsubst would fill it in."""
    environment = {key: str(value) for key, value in SERVICES[service]["environment"].items()}
    if service == "model-gateway":
        # docker/nginx/10-model-gateway-secret.envsh exports it from the secret file.
        environment["MODEL_GATEWAY_SECRET"] = secrets.token_hex(32)
    return config.render_template(template.read_text(), environment)


def locally_checkable(conf: str) -> str:
    """Nginx here (Debian's 1.22) predates open-source `server ... resolve` (1.27.3) and cannot
    resolve compose's service names: only those two things change, nothing else."""
    return re.sub(r"server (web|torchserve):(\d+) resolve", r"server 127.0.0.1:\2", conf)


@pytest.mark.parametrize(
    ("service", "template"),
    [
        ("gateway", config.EXTERNAL_NGINX_TEMPLATE),
        ("model-gateway", config.INTERNAL_NGINX_TEMPLATE),
    ],
)
def test_the_nginx_templates_rendered_for_compose_pass_nginx_t(service, template, tmp_path):
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    rendered = compose_rendered(service, template)
    assert re.search(r"server (web|torchserve):\d+ resolve", rendered)
    site = tmp_path / "site.conf"
    site.write_text(locally_checkable(rendered))
    for folder in ("logs", "temp"):
        (tmp_path / folder).mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(config.nginx_main_conf(tmp_path, site))

    result = run("nginx", "-t", "-p", str(tmp_path), "-c", str(main))

    assert result.returncode == 0, result.stderr


def test_compose_and_make_stack_share_the_nginx_templates_and_torchserve_config():
    nginx_dockerfile = (ROOT / "docker/nginx/Dockerfile").read_text()
    torchserve_dockerfile = (ROOT / "docker/torchserve/Dockerfile").read_text()

    for template in (config.EXTERNAL_NGINX_TEMPLATE, config.INTERNAL_NGINX_TEMPLATE):
        assert str(template.relative_to(ROOT)) in nginx_dockerfile
    assert str(config.TORCHSERVE_TEMPLATE.relative_to(ROOT)) in torchserve_dockerfile


def test_the_torchserve_image_build_stage_runs_the_model_build_script():
    dockerfile = (ROOT / "docker/torchserve/Dockerfile").read_text()

    assert re.search(r"RUN .*docker/torchserve/build-model\.sh", dockerfile)


def test_the_model_build_script_produces_the_digits_archive(tmp_path):
    result = run("bash", "docker/torchserve/build-model.sh", "digits", str(tmp_path))

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (tmp_path / "digits.mar").is_file()
    assert "held-out accuracy" in result.stdout + result.stderr
