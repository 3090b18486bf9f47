from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The address the request came from, as the audit and the rate limit see it."""
    return request.META["REMOTE_ADDR"]
