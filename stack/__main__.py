"""`python -m stack up` runs the production topology on loopback until Ctrl-C or SIGTERM;
`python -m stack down` stops a stack that another process started."""

import argparse
import signal
import sys
import time
from pathlib import Path

from stack.launcher import (
    DEFAULT_REDIS_URL,
    DEFAULT_WORKDIR,
    Stack,
    StackError,
    stop_from_pidfile,
)

WATCH_SECONDS = 1.0


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the stack and run until Ctrl-C or SIGTERM")
    up.add_argument("--classifiers", type=int, default=2, help="TorchServe replicas")
    up.add_argument("--interfaces", type=int, default=1, help="gunicorn instances of Django")
    up.add_argument("--database-url", help="default: a SQLite file in the workdir")
    up.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="default: %(default)s")
    up.add_argument("--ratelimit-rate", help="requests per client IP, e.g. 1000/15m")
    up.add_argument("--port", type=int, help="port of the external Nginx (default: a free one)")
    down = commands.add_parser("down", help="stop the stack started from the workdir")
    for command in (up, down):
        command.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    return parser.parse_args(argv)


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def ignore_interrupts() -> None:
    """A second Ctrl-C must not cut the shutdown short and leave processes behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def describe(stack: Stack) -> str:
    lines = [
        f"Stack ready in {stack.startup_seconds:.1f} s (logs in {stack.workdir}):",
        f"  page           {stack.external_url}/",
        f"  API docs       {stack.external_url}/api/docs/",
        f"  admin          {stack.external_url}/admin/",
        f"  readiness      {stack.external_url}/readyz",
        *(f"  gunicorn {index}     {url}" for index, url in enumerate(stack.web_urls)),
        f"  model gateway  {stack.internal_url}  (header X-Model-Gateway-Secret: {stack.secret})",
    ]
    for index, ports in enumerate(stack.ports.classifiers):
        lines.append(
            f"  TorchServe {index}   http://127.0.0.1:{ports.inference}"
            f"  management :{ports.management}  metrics :{ports.metrics}"
        )
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


def watch(stack: Stack) -> None:
    """Return when a process of the stack exits on its own (or `python -m stack down` ran)."""
    while not (exited := stack.exited()):
        time.sleep(WATCH_SECONDS)
    print(f"{', '.join(exited)} exited; stopping the stack.", file=sys.stderr)


def up(arguments: argparse.Namespace) -> int:
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    stack = Stack(
        classifiers=arguments.classifiers,
        interfaces=arguments.interfaces,
        workdir=arguments.workdir,
        database_url=arguments.database_url,
        redis_url=arguments.redis_url,
        ratelimit_rate=arguments.ratelimit_rate,
        external_port=arguments.port,
    )
    print(f"Starting {arguments.classifiers} TorchServe and {arguments.interfaces} gunicorn ...")
    try:
        stack.start()
        print(describe(stack), flush=True)
        watch(stack)
    except KeyboardInterrupt:
        print("Stopping ...", file=sys.stderr)
    except StackError as error:
        print(f"The stack did not start: {error}", file=sys.stderr)
        return 1
    finally:
        ignore_interrupts()
        stack.stop()
    return 0


def down(arguments: argparse.Namespace) -> int:
    stopped = stop_from_pidfile(arguments.workdir)
    print(f"Stopped {', '.join(stopped)}." if stopped else "No stack runs from that workdir.")
    return 0


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    return up(arguments) if arguments.command == "up" else down(arguments)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
