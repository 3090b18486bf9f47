from dataclasses import dataclass

from rest_framework.request import Request
from rest_framework.response import Response

from accounts.services import inference_record_create
from inferapi.clientip import client_ip
from inferapi.images import UploadFacts, ValidatedImage
from inferapi.middleware import elapsed_ms
from inferapi.modelclient import Prediction


@dataclass
class ClassifyAudit:
    """What one classify request learned, step by step, for its audit row."""

    upload: UploadFacts | None = None
    image: ValidatedImage | None = None
    prediction: Prediction | None = None


def caller_of(request: Request):
    """The authenticated visitor, or None; never authenticates again after a refusal."""
    try:
        return request.user
    except Exception:
        return None


def inference_record(request: Request, response: Response, audit: ClassifyAudit) -> None:
    caller = caller_of(request)
    upload, image, prediction = audit.upload, audit.image, audit.prediction
    top = prediction.labels[0] if prediction and prediction.labels else None
    inference_record_create(
        request_id=request.request_id,
        visitor_id=caller.visitor_id if caller else None,
        jti=caller.jti if caller else "",
        ip=client_ip(request),
        status=response.status_code,
        error_code=(response.data or {}).get("code", "") if response.status_code >= 400 else "",
        image_sha256=upload.sha256 if upload else "",
        image_bytes=upload.size_bytes if upload else None,
        image_format=image.format if image else "",
        image_width=image.width if image else None,
        image_height=image.height if image else None,
        model_name=prediction.model_name if prediction else "",
        model_version=prediction.model_version if prediction else "",
        model_replica=prediction.replica if prediction else "",
        top_label=top.label if top else "",
        top_score=top.score if top else None,
        total_ms=elapsed_ms(request),
        model_ms=prediction.model_ms if prediction else None,
    )
