"""The production topology as local processes on loopback:

    external Nginx -> N gunicorn instances of Django -> internal Nginx -> M TorchServe replicas

Every process leads a process group of its own (`start_new_session`), listed in
`<workdir>/pids`. Stopping signals whole groups, so TorchServe's Java frontend and Python
workers, and the gunicorn and Nginx workers, go with the process that started them.
"""

import atexit
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from urllib.parse import urlsplit

from stack import config
from stack.config import TorchServePorts

REPO = config.REPO
DEFAULT_WORKDIR = REPO / "var" / "stack"
# gunicorn refuses to start without Redis: the rate limit must be shared by every replica.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
BIN = Path(sys.executable).parent
MODEL_NAME = "digits"
PIDS_FILE = "pids"
PROC = Path("/proc")
POLL_SECONDS = 0.1
HTTP_TIMEOUT_SECONDS = 2.0
STOP_GRACE_SECONDS = 10.0
KILL_WAIT_SECONDS = 5.0
INTERNAL_NGINX = "internal-nginx"
EXTERNAL_NGINX = "external-nginx"


# Every variable Django is given; inherited values (and NAME_FILE variants) are dropped first.
def django_variables() -> set[str]:
    """Every setting Django reads, as `.env.example` lists them (with NAME_FILE variants)."""
    text = (REPO / ".env.example").read_text()
    return {"DJANGO_SETTINGS_MODULE", *re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE)}


GUNICORN_ACCESS_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}i)s'


class StackError(RuntimeError):
    """The stack, or one of its processes, did not start or did not stop."""


@dataclass(frozen=True)
class StackPorts:
    classifiers: list[TorchServePorts]
    internal: int
    internal_health: int
    web: list[int]
    external: int


@dataclass
class Service:
    """One process group: a TorchServe replica, an Nginx or a gunicorn instance."""

    name: str
    argv: list[str]
    directory: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None

    @property
    def output(self) -> Path:
        return self.directory / "output.log"

    @property
    def pgid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        with self.output.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 - argv built by this module
                self.argv,
                cwd=self.directory,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def output_tail(self, lines: int = 20) -> str:
        if not self.output.exists():
            return ""
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])


def free_ports(count: int) -> list[int]:
    """Distinct ports the kernel has just handed out on 127.0.0.1."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def allocate_ports(classifiers: int, interfaces: int, external_port: int | None) -> StackPorts:
    ports = iter(free_ports(classifiers * 6 + interfaces + 3))
    return StackPorts(
        classifiers=[TorchServePorts(*islice(ports, 6)) for _ in range(classifiers)],
        internal=next(ports),
        internal_health=next(ports),
        web=list(islice(ports, interfaces)),
        external=external_port or next(ports),
    )


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes] | None:
    """Status and body of a GET on loopback, or None if nothing answered in time."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=HTTP_TIMEOUT_SECONDS
    )
    try:
        connection.request("GET", parts.path or "/", headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def answers_200(url: str, headers: dict[str, str] | None = None) -> bool:
    answer = http_get(url, headers)
    return answer is not None and answer[0] == 200


def http_json(url: str) -> object:
    """The JSON body of a 200 answer, or None."""
    answer = http_get(url)
    if answer is None or answer[0] != 200:
        return None
    try:
        return json.loads(answer[1])
    except ValueError:
        return None


def classifier_ready(ports: TorchServePorts) -> bool:
    """TorchServe says Healthy and every worker has loaded the model (Healthy comes earlier)."""
    ping = http_json(f"http://127.0.0.1:{ports.inference}/ping")
    if not isinstance(ping, dict) or ping.get("status") != "Healthy":
        return False
    versions = http_json(f"http://127.0.0.1:{ports.management}/models/{MODEL_NAME}")
    if not isinstance(versions, list):
        return False
    workers = [worker for version in versions for worker in version.get("workers", [])]
    return bool(workers) and all(worker.get("status") == "READY" for worker in workers)


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise StackError("nginx is not installed (apt-get install nginx)")
    return found


def nginx_arguments(conf: Path) -> list[str]:
    """Run Nginx from the directory of `conf`, its error log there from the first moment on."""
    prefix = conf.parent
    return ["-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "logs" / "error.log")]


def nginx_check(conf: Path) -> None:
    """`nginx -t` on a rendered nginx.conf; raise StackError with Nginx's complaint."""
    result = subprocess.run(  # noqa: S603 - argv built by this module
        [nginx_binary(), *nginx_arguments(conf), "-t", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"nginx -t failed for {conf}:\n{result.stderr}")


def group_members(pgid: int) -> list[int]:
    """Processes of a process group that still run (zombies excluded), from /proc."""
    members = []
    for stat in PROC.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            state, _parent, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if state != "Z" and int(group) == pgid:
                members.append(int(stat.parent.name))
    return members


def group_alive(pgid: int) -> bool:
    if PROC.is_dir():
        return bool(group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def group_runs_from(pgid: int, workdir: Path) -> bool:
    """Whether a process of the group names `workdir` on its command line, so that a stale pid
    never makes us signal an unrelated group that reused the number."""
    if not PROC.is_dir():
        return True
    marker = f"{workdir}/".encode()
    for pid in group_members(pgid):
        with contextlib.suppress(OSError):
            if marker in (PROC / str(pid) / "cmdline").read_bytes():
                return True
    return False


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_groups_gone(pgids: list[int], seconds: float, reap: Callable[[], None]) -> list[int]:
    """Wait until no process of these groups runs; return the groups still running at the end."""
    deadline = time.monotonic() + seconds
    while True:
        reap()
        remaining = [pgid for pgid in pgids if group_alive(pgid)]
        if not remaining or time.monotonic() >= deadline:
            return remaining
        time.sleep(POLL_SECONDS)


def stop_groups(pgids: list[int], reap: Callable[[], None] = lambda: None) -> list[int]:
    """SIGTERM, then SIGKILL after the grace period; return groups that outlived even SIGKILL."""
    for pgid in pgids:
        signal_group(pgid, signal.SIGTERM)
        # A stopped (SIGSTOP) process acts on SIGTERM only once it runs again.
        signal_group(pgid, signal.SIGCONT)
    remaining = wait_groups_gone(pgids, STOP_GRACE_SECONDS, reap)
    for pgid in remaining:
        signal_group(pgid, signal.SIGKILL)
    return wait_groups_gone(remaining, KILL_WAIT_SECONDS, reap)


def write_pids(workdir: Path, services: Iterable[Service]) -> None:
    lines = [f"{service.pgid} {service.name}\n" for service in services if service.pgid]
    (workdir / PIDS_FILE).write_text("".join(lines))


def running_groups(workdir: Path) -> dict[int, str]:
    """Process groups listed in the pids file of `workdir` that still run from it, with names."""
    path = workdir / PIDS_FILE
    if not path.exists():
        return {}
    listed = (line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())
    groups = {int(pgid): name for pgid, name in listed}
    return {pgid: name for pgid, name in groups.items() if group_runs_from(pgid, workdir)}


def stop_from_pidfile(workdir: Path) -> list[str]:
    """Stop a stack that another process started in `workdir`; return what was stopped."""
    workdir = workdir.resolve()
    groups = running_groups(workdir)
    survivors = stop_groups(list(groups))
    if survivors:
        raise StackError(f"process groups {survivors} survived SIGKILL")
    (workdir / PIDS_FILE).unlink(missing_ok=True)
    return list(groups.values())


def random_key() -> str:
    return secrets.token_urlsafe(36)


def inherited_environment() -> dict[str, str]:
    """This process's environment without anything that would configure a service behind our
    back: Django's variables (and their NAME_FILE variants) and TorchServe's TS_CONFIG_FILE."""
    variables = django_variables()
    dropped = {*variables, *(f"{name}_FILE" for name in variables), "TS_CONFIG_FILE"}
    return {name: value for name, value in os.environ.items() if name not in dropped}


class Stack:
    """Start with `start()` or `with Stack(...) as stack:`; `stop()` leaves no process behind."""

    def __init__(
        self,
        *,
        classifiers: int = 2,
        interfaces: int = 1,
        workdir: Path = DEFAULT_WORKDIR,
        database_url: str | None = None,
        redis_url: str = DEFAULT_REDIS_URL,
        ratelimit_rate: str | None = None,
        secret: str | None = None,
        model_read_timeout: float = 10.0,
        gateway_read_timeout: float = 4.0,
        workers_per_classifier: int = 1,
        external_port: int | None = None,
        start_timeout: float = 180.0,
    ) -> None:
        if classifiers < 1 or interfaces < 1:
            raise ValueError("a stack needs at least one classifier and one interface")
        self.workdir = Path(workdir).resolve()
        self.database_url = database_url or f"sqlite:///{self.workdir / 'db.sqlite3'}"
        self.redis_url = redis_url
        self.ratelimit_rate = ratelimit_rate
        self.secret = secret or secrets.token_hex(32)
        config.gateway_secret_check(self.secret)
        if len(str(self.workdir / classifier_name(classifiers) / "tmp" / ".ts.sock.65535")) > 107:
            raise ValueError(f"{self.workdir} is too long a path for TorchServe's unix sockets")
        self.model_read_timeout = model_read_timeout
        self.gateway_read_timeout = gateway_read_timeout
        self.workers_per_classifier = workers_per_classifier
        self.start_timeout = start_timeout
        self.startup_seconds: float | None = None
        self.ports = allocate_ports(classifiers, interfaces, external_port)
        self._django_keys = {"SECRET_KEY": random_key(), "JWT_SIGNING_KEY": random_key()}
        self._services: dict[str, Service] = {}

    def __enter__(self) -> "Stack":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def external_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.external}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.internal}"

    @property
    def classifier_addresses(self) -> list[str]:
        """host:port of each replica's inference API, as the internal Nginx names them."""
        return [f"127.0.0.1:{ports.inference}" for ports in self.ports.classifiers]

    @property
    def classifier_urls(self) -> list[str]:
        return [f"http://{address}" for address in self.classifier_addresses]

    @property
    def web_addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports.web]

    @property
    def web_urls(self) -> list[str]:
        return [f"http://{address}" for address in self.web_addresses]

    def web_pids(self) -> list[int]:
        """Process ids of the gunicorn masters: unchanged as long as Django was not restarted."""
        return [self._services[web_name(index)].pgid for index in range(len(self.ports.web))]

    def rendered_configs(self) -> list[Path]:
        """The top-level nginx.conf of both Nginx; `nginx -t -p <its folder> -c <it>` checks one."""
        return [self.workdir / name / "nginx.conf" for name in (INTERNAL_NGINX, EXTERNAL_NGINX)]

    def start(self) -> None:
        """Start every process, then return once the external /readyz answers 200."""
        started = time.monotonic()
        if running_groups(self.workdir):
            raise StackError(f"a stack runs from {self.workdir}; stop it: python -m stack down")
        atexit.register(self.stop)
        try:
            self._launch_all()
            self._wait_until_ready(started + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Stop every process group of the stack; safe to call more than once."""
        if not self._services:
            return
        survivors = self._stop(self._services.values())
        if survivors:
            print(f"stack: process groups {survivors} survived SIGKILL", file=sys.stderr)
            return
        self._services.clear()
        (self.workdir / PIDS_FILE).unlink(missing_ok=True)
        atexit.unregister(self.stop)

    def exited(self) -> list[str]:
        """Names of the processes that have exited (which also reaps them)."""
        return [name for name, service in self._services.items() if service.exited()]

    def kill_classifier(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to every process of replica `index`; after SIGKILL or SIGTERM, return once
        they are gone. SIGSTOP makes a hung replica, SIGCONT resumes it."""
        groups = self._running_groups([self._services[classifier_name(index)]])
        for pgid in groups:
            signal_group(pgid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            wait_groups_gone(groups, STOP_GRACE_SECONDS, self._reap)

    def start_classifier(self, index: int) -> None:
        """(Re)start replica `index` on its former ports; return once it serves the model."""
        service = self._services[classifier_name(index)]
        self._stop([service])
        service.start()
        write_pids(self.workdir, self._services.values())
        ready = partial(classifier_ready, self.ports.classifiers[index])
        self._wait_for(service.name, ready, time.monotonic() + self.start_timeout, [service])

    def stop_classifiers(self) -> None:
        """Stop every TorchServe replica; `start_classifier` brings each back."""
        names = [classifier_name(index) for index in range(len(self.ports.classifiers))]
        self._stop([self._services[name] for name in names])

    def _launch_all(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The JVMs are the slowest to come up: start them, then prepare Django meanwhile.
        for index in range(len(self.ports.classifiers)):
            self._launch(self._classifier_service(index))
        self._prepare_django()
        self._launch(self._nginx_service(INTERNAL_NGINX, self._internal_nginx_conf()))
        for index in range(len(self.ports.web)):
            self._launch(self._web_service(index))
        self._launch(self._nginx_service(EXTERNAL_NGINX, self._external_nginx_conf()))

    def _launch(self, service: Service) -> None:
        self._services[service.name] = service
        service.start()
        write_pids(self.workdir, self._services.values())

    def _fresh_directory(self, name: str) -> Path:
        directory = self.workdir / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        return directory

    def _classifier_service(self, index: int) -> Service:
        directory = self._fresh_directory(classifier_name(index))
        for folder in ("tmp", "logs"):
            (directory / folder).mkdir()
        conf = directory / "config.properties"
        conf.write_text(
            config.torchserve_config(
                ports=self.ports.classifiers[index],
                model_store=REPO / "model_store",
                workers=self.workers_per_classifier,
            )
        )
        env = {
            **inherited_environment(),
            # Separate temp folders keep the replicas' pid files, sockets and unpacked models apart.
            "TEMP": str(directory / "tmp"),
            "TMPDIR": str(directory / "tmp"),
            "LOG_LOCATION": str(directory / "logs"),
            "METRICS_LOCATION": str(directory / "logs"),
        }
        argv = [str(BIN / "torchserve"), "--foreground", "--ncs", "--ts-config", str(conf)]
        return Service(classifier_name(index), argv, directory, env)

    def _nginx_service(self, name: str, site: str) -> Service:
        prefix = self._fresh_directory(name)
        for folder in ("logs", "temp"):
            (prefix / folder).mkdir()
        (prefix / "site.conf").write_text(site)
        conf = prefix / "nginx.conf"
        conf.write_text(config.nginx_main_conf(prefix, prefix / "site.conf"))
        nginx_check(conf)
        argv = [nginx_binary(), *nginx_arguments(conf), "-g", "daemon off;"]
        return Service(name, argv, prefix, inherited_environment())

    def _internal_nginx_conf(self) -> str:
        return config.internal_nginx_conf(
            torchserve_addresses=self.classifier_addresses,
            listen=f"127.0.0.1:{self.ports.internal}",
            health_listen=f"127.0.0.1:{self.ports.internal_health}",
            secret=self.secret,
            read_timeout=self.gateway_read_timeout,
        )

    def _external_nginx_conf(self) -> str:
        return config.external_nginx_conf(
            web_addresses=self.web_addresses, listen=f"127.0.0.1:{self.ports.external}"
        )

    def _web_service(self, index: int) -> Service:
        directory = self._fresh_directory(web_name(index))
        argv = [
            str(BIN / "gunicorn"),
            "inferapi.wsgi:application",
            f"--chdir={REPO}",
            f"--bind=127.0.0.1:{self.ports.web[index]}",
            "--worker-class=gthread",
            "--workers=2",
            "--threads=4",
            "--timeout=30",
            "--graceful-timeout=5",
            # Longer than the external Nginx's upstream keepalive_timeout (60 s).
            "--keep-alive=65",
            "--no-control-socket",
            f"--access-logfile={directory / 'access.log'}",
            f"--access-logformat={GUNICORN_ACCESS_FORMAT}",
        ]
        return Service(web_name(index), argv, directory, self.django_environment())

    def django_environment(self) -> dict[str, str]:
        env = {
            **inherited_environment(),
            "DJANGO_SETTINGS_MODULE": "inferapi.settings",
            "DEBUG": "false",
            **self._django_keys,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.database_url,
            "MODEL_BACKEND": "torchserve",
            "MODEL_SERVER_URL": self.internal_url,
            "MODEL_SERVER_SECRET": self.secret,
            "MODEL_CONNECT_TIMEOUT": "1",
            "MODEL_READ_TIMEOUT": str(self.model_read_timeout),
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "REDIS_URL": self.redis_url,
        }
        if self.ratelimit_rate:
            env["RATELIMIT_RATE"] = self.ratelimit_rate
        return env

    def _prepare_django(self) -> None:
        for command in (["migrate", "--no-input"], ["collectstatic", "--no-input"]):
            result = subprocess.run(  # noqa: S603 - argv built by this module
                [sys.executable, "manage.py", *command],
                cwd=REPO,
                env=self.django_environment(),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise StackError(f"manage.py {command[0]} failed:\n{result.stderr[-3000:]}")

    def _wait_until_ready(self, deadline: float) -> None:
        checks = [
            (classifier_name(index), partial(classifier_ready, ports))
            for index, ports in enumerate(self.ports.classifiers)
        ]
        secret = {"X-Model-Gateway-Secret": self.secret}
        checks.append((INTERNAL_NGINX, partial(answers_200, f"{self.internal_url}/ping", secret)))
        checks += [
            (web_name(index), partial(answers_200, f"{url}/healthz"))
            for index, url in enumerate(self.web_urls)
        ]
        checks.append((EXTERNAL_NGINX, partial(answers_200, f"{self.external_url}/readyz")))
        services = list(self._services.values())
        for what, ready in checks:
            self._wait_for(what, ready, deadline, services)

    def _wait_for(
        self, what: str, ready: Callable[[], bool], deadline: float, watched: list[Service]
    ) -> None:
        """Poll `ready` until the deadline; fail at once if a watched process exits."""
        while not ready():
            for service in watched:
                if service.exited():
                    raise StackError(
                        f"{service.name} exited with status {service.process.returncode}; "
                        f"the end of {service.output}:\n{service.output_tail()}"
                    )
            if time.monotonic() >= deadline:
                raise StackError(f"{what} was not ready in time; see the logs in {self.workdir}")
            time.sleep(POLL_SECONDS)

    def _running_groups(self, services: Iterable[Service]) -> list[int]:
        """Process groups of these services that still run from the workdir."""
        return [
            service.pgid
            for service in services
            if service.pgid and group_runs_from(service.pgid, self.workdir)
        ]

    def _stop(self, services: Iterable[Service]) -> list[int]:
        return stop_groups(self._running_groups(services), reap=self._reap)

    def _reap(self) -> None:
        for service in self._services.values():
            service.exited()


def classifier_name(index: int) -> str:
    return f"torchserve-{index}"


def web_name(index: int) -> str:
    return f"web-{index}"
