"""The one edge between Django and the model: every prediction goes through `model_predict`.

`local` runs the handler shipped inside `model_store/<name>.mar` in this process, with the very
code TorchServe runs; it is the embedded default. `torchserve` posts the image to the internal
Nginx that balances the TorchServe replicas, with explicit timeouts and pooled connections.
"""

import contextlib
import importlib.util
import inspect
import json
import logging
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Protocol

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from rest_framework import status

from inferapi.errors import ApiError, dependency_unavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Label:
    label: str
    score: float


@dataclass(frozen=True)
class Prediction:
    labels: list[Label]
    model_name: str
    model_version: str
    model_ms: float
    replica: str


class ModelBackend(Protocol):
    def predict(self, *, image: bytes, top_k: int, request_id: str) -> Prediction: ...

    def ping(self) -> None:
        """Return if the model can take requests; raise an ApiError saying why not."""


def model_unavailable(detail: str) -> ApiError:
    return dependency_unavailable(code="model_unavailable", detail=detail)


def model_timeout() -> ApiError:
    return ApiError(
        status_code=status.HTTP_504_GATEWAY_TIMEOUT,
        code="model_timeout",
        detail="The model did not answer in time.",
    )


def model_error(detail: str) -> ApiError:
    return ApiError(status_code=status.HTTP_502_BAD_GATEWAY, code="model_error", detail=detail)


def model_rejected_image() -> ApiError:
    return ApiError(
        status_code=status.HTTP_400_BAD_REQUEST,
        code="invalid_image",
        detail="The model could not read the image.",
    )


def labels_from_output(output: list[dict], top_k: int) -> list[Label]:
    labels = [Label(label=str(item["label"]), score=float(item["score"])) for item in output]
    return sorted(labels, key=lambda item: item.score, reverse=True)[:top_k]


class NoMetrics:
    """TorchServe's handler reports timings to a metrics cache; in-process they are dropped."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def mar_extract(mar_path: Path) -> tuple[Path, dict]:
    target = Path(tempfile.mkdtemp(prefix=f"inferapi-{mar_path.stem}-"))
    with zipfile.ZipFile(mar_path) as archive:
        archive.extractall(target)
    manifest = json.loads((target / "MAR-INF" / "MANIFEST.json").read_text())
    return target, manifest


def handler_module_load(model_dir: Path, handler_file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"inferapi_mar_handler_{model_dir.name}", model_dir / handler_file
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def handler_instance(module: ModuleType):
    """The handler class the module defines, found the way TorchServe finds it."""
    from ts.torch_handler.base_handler import BaseHandler

    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseHandler)
        and value.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise RuntimeError(f"{module.__file__} must define exactly one BaseHandler subclass.")
    return classes[0]()


class LocalBackend:
    """Loads the archive once per process; one prediction at a time, as one TorchServe worker."""

    def __init__(self, mar_path: Path):
        self.mar_path = mar_path
        self.lock = threading.Lock()
        self.handler = None
        self.context = None
        self.manifest: dict = {}

    def load(self) -> None:
        from ts.context import Context, RequestProcessor

        if not self.mar_path.is_file():
            raise model_unavailable(
                f"The model archive {self.mar_path.name} is missing; build it with `make model`."
            )
        model_dir, self.manifest = mar_extract(self.mar_path)
        model = self.manifest["model"]
        context = Context(model["modelName"], str(model_dir), self.manifest, 1, None, "0.12.0")
        context.metrics = NoMetrics()
        context.model_yaml_config = {}
        context.request_processor = [RequestProcessor({})]
        handler = handler_instance(handler_module_load(model_dir, model["handler"]))
        handler.initialize(context)
        self.handler, self.context = handler, context
        logger.info("Loaded %s version %s in-process", model["modelName"], model["modelVersion"])

    def ensure_loaded(self) -> None:
        if self.handler is not None:
            return
        try:
            self.load()
        except ApiError:
            raise
        except Exception:
            logger.exception("The model archive %s could not be loaded", self.mar_path)
            raise model_unavailable("The model could not be loaded.") from None

    def ping(self) -> None:
        with self.lock:
            self.ensure_loaded()

    def predict(self, *, image: bytes, top_k: int, request_id: str) -> Prediction:
        with self.lock:
            self.ensure_loaded()
            started = time.perf_counter()
            output = self.run_handler(image)
            model_ms = round((time.perf_counter() - started) * 1000, 2)
        return Prediction(
            labels=labels_from_output(output, top_k),
            model_name=self.manifest["model"]["modelName"],
            model_version=self.manifest["model"]["modelVersion"],
            model_ms=model_ms,
            replica="local",
        )

    def run_handler(self, image: bytes) -> list[dict]:
        from ts.utils.util import PredictionException

        try:
            return self.handler.handle([{"body": image}], self.context)[0]
        except PredictionException as error:
            if error.error_code == status.HTTP_400_BAD_REQUEST:
                raise model_rejected_image() from None
            logger.exception("The model handler refused a request")
            raise model_error("The model failed to classify the image.") from None
        except Exception:
            logger.exception("The model handler failed")
            raise model_error("The model failed to classify the image.") from None


GATEWAY_AUTH_HEADER = "X-Model-Gateway-Secret"
UNAVAILABLE_STATUSES = (502, 503)


def replica_from(header: str) -> str:
    """Nginx lists every upstream it tried (`a:1, b:2`); the last one answered."""
    return header.rsplit(",", 1)[-1].strip() if header else ""


class TorchServeBackend:
    """TorchServe replicas behind the internal Nginx; one pooled session per worker thread."""

    def __init__(
        self, *, base_url: str, model_name: str, secret: str, timeout: tuple[float, float]
    ):
        self.predict_url = f"{base_url.rstrip('/')}/predictions/{model_name}"
        self.ping_url = f"{base_url.rstrip('/')}/ping"
        self.model_name = model_name
        self.secret = secret
        self.timeout = timeout
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
            session.headers[GATEWAY_AUTH_HEADER] = self.secret
            self.local.session = session
        return self.local.session

    def call(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return self.session().request(method, url, timeout=self.timeout, **kwargs)
        except requests.ReadTimeout:
            raise model_timeout() from None
        except requests.ConnectionError as error:
            logger.warning("Model gateway unreachable: %s", error)
            raise model_unavailable("The model server cannot be reached right now.") from None

    def predict(self, *, image: bytes, top_k: int, request_id: str) -> Prediction:
        started = time.perf_counter()
        response = self.call(
            "POST",
            self.predict_url,
            data=image,
            headers={"Content-Type": "image/png", "X-Request-ID": request_id},
        )
        model_ms = round((time.perf_counter() - started) * 1000, 2)
        self.raise_for_status(response)
        try:
            labels = labels_from_output(response.json(), top_k)
        except (ValueError, TypeError, KeyError):
            raise model_error("The model server sent an answer that cannot be read.") from None
        return Prediction(
            labels=labels,
            model_name=response.headers.get("X-Model-Name", self.model_name),
            model_version=response.headers.get("X-Model-Version", ""),
            model_ms=model_ms,
            replica=replica_from(response.headers.get("X-Upstream", "")),
        )

    def raise_for_status(self, response: requests.Response) -> None:
        if response.status_code == status.HTTP_200_OK:
            return
        if response.status_code in UNAVAILABLE_STATUSES:
            raise model_unavailable("No model server can take the request right now.")
        if response.status_code == status.HTTP_504_GATEWAY_TIMEOUT:
            raise model_timeout()
        if response.status_code == status.HTTP_400_BAD_REQUEST:
            raise model_rejected_image()
        logger.error("Model gateway answered %s: %.200s", response.status_code, response.text)
        raise model_error("The model server answered unexpectedly.")

    def ping(self) -> None:
        response = self.call("GET", self.ping_url)
        with contextlib.suppress(ValueError):
            if response.status_code == 200 and response.json().get("status") == "Healthy":
                return
        raise model_unavailable(f"The model server is not healthy (HTTP {response.status_code}).")


@cache
def model_backend() -> ModelBackend:
    if settings.MODEL_BACKEND == "torchserve":
        return TorchServeBackend(
            base_url=settings.MODEL_SERVER_URL,
            model_name=settings.MODEL_NAME,
            secret=settings.MODEL_SERVER_SECRET,
            timeout=(settings.MODEL_CONNECT_TIMEOUT, settings.MODEL_READ_TIMEOUT),
        )
    return LocalBackend(settings.MODEL_STORE / f"{settings.MODEL_NAME}.mar")


def model_predict(*, image: bytes, top_k: int, request_id: str) -> Prediction:
    return model_backend().predict(image=image, top_k=top_k, request_id=request_id)
