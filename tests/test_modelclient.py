"""The TorchServe backend's mapping of gateway answers, against a real HTTP server on loopback."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inferapi.errors import ApiError
from inferapi.modelclient import TorchServeBackend, replica_from

PREDICTIONS = [
    {"label": "3", "score": 0.9},
    {"label": "8", "score": 0.06},
    {"label": "5", "score": 0.04},
]


class FakeGateway(BaseHTTPRequestHandler):
    """Answers as the test tells it to, and remembers what it was sent."""

    protocol_version = "HTTP/1.1"
    answer: dict = {}
    seen: list = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(
            {
                "path": self.path,
                "headers": dict(self.headers),
                "body": body,
                "peer": self.client_address,
            }
        )
        self.respond()

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, "headers": dict(self.headers), "body": b""})
        self.respond()

    def respond(self) -> None:
        time.sleep(self.answer.get("delay", 0))
        payload = self.answer.get("body", json.dumps(PREDICTIONS)).encode()
        self.send_response(self.answer.get("status", 200))
        for name, value in self.answer.get("headers", {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def gateway():
    FakeGateway.answer, FakeGateway.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGateway)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def backend_for(port: int, read_timeout: float = 2.0) -> TorchServeBackend:
    return TorchServeBackend(
        base_url=f"http://127.0.0.1:{port}",
        model_name="digits",
        secret="the-shared-secret",
        timeout=(1.0, read_timeout),
    )


def refusal(backend: TorchServeBackend) -> tuple[int, str]:
    with pytest.raises(ApiError) as raised:
        backend.predict(image=b"png-bytes", top_k=2, request_id="req-1")
    return raised.value.status_code, raised.value.code


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_it_posts_the_image_with_the_secret_and_the_request_id(gateway):
    backend_for(gateway.server_port).predict(image=b"png-bytes", top_k=2, request_id="req-1")

    sent = FakeGateway.seen[0]
    assert sent["path"] == "/predictions/digits"
    assert sent["body"] == b"png-bytes"
    assert sent["headers"]["X-Model-Gateway-Secret"] == "the-shared-secret"
    assert sent["headers"]["X-Request-ID"] == "req-1"
    assert sent["headers"]["Content-Type"] == "image/png"


def test_it_returns_the_top_k_labels_the_model_version_and_the_replica(gateway):
    FakeGateway.answer = {
        "headers": {
            "X-Model-Name": "digits",
            "X-Model-Version": "1.0",
            "X-Upstream": "127.0.0.1:9001, 127.0.0.1:9002",
        }
    }

    prediction = backend_for(gateway.server_port).predict(image=b"x", top_k=2, request_id="r")

    assert [(item.label, item.score) for item in prediction.labels] == [("3", 0.9), ("8", 0.06)]
    assert (prediction.model_name, prediction.model_version) == ("digits", "1.0")
    assert prediction.replica == "127.0.0.1:9002"


def test_it_reuses_one_connection_per_thread(gateway):
    backend = backend_for(gateway.server_port)
    for _ in range(3):
        backend.predict(image=b"x", top_k=1, request_id="r")

    assert len({sent["peer"] for sent in FakeGateway.seen}) == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, (400, "invalid_image")),
        (502, (503, "model_unavailable")),
        (503, (503, "model_unavailable")),
        (504, (504, "model_timeout")),
        (404, (502, "model_error")),
        (403, (502, "model_error")),
        (500, (502, "model_error")),
        (507, (502, "model_error")),
    ],
)
def test_it_maps_each_gateway_status_to_one_api_error(gateway, status, expected):
    FakeGateway.answer = {"status": status, "body": json.dumps({"code": status})}

    assert refusal(backend_for(gateway.server_port)) == expected


def test_it_maps_an_unreadable_answer_to_model_error(gateway):
    FakeGateway.answer = {"body": "<html>not json</html>"}

    assert refusal(backend_for(gateway.server_port)) == (502, "model_error")


def test_it_maps_a_read_timeout_to_model_timeout(gateway):
    FakeGateway.answer = {"delay": 1.0}

    assert refusal(backend_for(gateway.server_port, read_timeout=0.2)) == (504, "model_timeout")


def test_it_maps_a_refused_connection_to_model_unavailable_at_once():
    started = time.monotonic()

    assert refusal(backend_for(closed_port())) == (503, "model_unavailable")
    assert time.monotonic() - started < 2


def test_ping_accepts_a_healthy_gateway(gateway):
    FakeGateway.answer = {"body": '{"status": "Healthy"}'}

    backend_for(gateway.server_port).ping()

    assert FakeGateway.seen[0]["path"] == "/ping"


@pytest.mark.parametrize(
    "answer", [{"status": 500, "body": "{}"}, {"body": '{"status": "Unhealthy"}'}]
)
def test_ping_refuses_an_unhealthy_gateway(gateway, answer):
    FakeGateway.answer = answer

    with pytest.raises(ApiError) as raised:
        backend_for(gateway.server_port).ping()
    assert raised.value.code == "model_unavailable"


def test_the_replica_is_the_last_upstream_nginx_tried():
    assert replica_from("10.0.0.1:8080, 10.0.0.2:8080") == "10.0.0.2:8080"
    assert replica_from("10.0.0.1:8080") == "10.0.0.1:8080"
    assert replica_from("") == ""
