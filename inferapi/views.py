from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inferapi.audit import ClassifyAudit, inference_record
from inferapi.health import readiness
from inferapi.images import image_too_large, image_validate, upload_facts, upload_read
from inferapi.middleware import elapsed_ms
from inferapi.modelclient import Prediction, model_predict
from inferapi.ratelimit import RateLimitedMixin
from inferapi.schema import ERROR_RESPONSES, RETRY_AFTER
from inferapi.serializers import ClassifyInputSerializer, ClassifyOutputSerializer


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    components = readiness()
    ready = all(component["status"] == "ok" for component in components.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "components": components},
        status=200 if ready else 503,
    )


def request_size_check(request: Request) -> None:
    """Refuse a body that is announced too large before reading any of it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.MAX_REQUEST_BYTES:
        raise image_too_large(
            f"The upload is larger than the limit of {settings.MAX_UPLOAD_BYTES} bytes."
        )


def classify_output(request: Request, prediction: Prediction) -> dict:
    return ClassifyOutputSerializer(
        {
            "predictions": prediction.labels,
            "model": {"name": prediction.model_name, "version": prediction.model_version},
            "request_id": request.request_id,
            "timing_ms": {"total": elapsed_ms(request), "model": prediction.model_ms},
        }
    ).data


class ClassifyApi(RateLimitedMixin, APIView):
    parser_classes = [MultiPartParser]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.audit = ClassifyAudit()

    @extend_schema(
        request=ClassifyInputSerializer,
        responses={
            200: ClassifyOutputSerializer,
            **ERROR_RESPONSES(400, 401, 403, 413, 415, 429, 502, 503, 504),
        },
        parameters=[RETRY_AFTER],
        summary="Classify an image",
    )
    def post(self, request: Request) -> Response:
        request_size_check(request)
        params = ClassifyInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = upload_read(params.validated_data["image"], max_bytes=settings.MAX_UPLOAD_BYTES)
        self.audit.upload = upload_facts(data)
        self.audit.image = image_validate(data, max_pixels=settings.MAX_IMAGE_PIXELS)
        self.audit.prediction = model_predict(
            image=self.audit.image.data,
            top_k=params.validated_data["top_k"],
            request_id=request.request_id,
        )
        return Response(classify_output(request, self.audit.prediction), status=status.HTTP_200_OK)

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "POST":
            inference_record(request, response, self.audit)
        return response
