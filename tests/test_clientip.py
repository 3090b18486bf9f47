import ipaddress

import pytest
from django.test import RequestFactory

from inferapi.clientip import audit_ip, client_ip

NGINX = "10.0.0.5"


@pytest.fixture(autouse=True)
def nginx_is_trusted(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]


def request_from(peer: str, **headers: str):
    return RequestFactory().get("/", REMOTE_ADDR=peer, **headers)


def test_a_direct_client_is_its_peer_address_whatever_it_claims():
    request = request_from("198.51.100.7", HTTP_X_REAL_IP="1.2.3.4", HTTP_X_FORWARDED_FOR="5.6.7.8")

    assert client_ip(request) == "198.51.100.7"


def test_behind_the_trusted_proxy_the_client_is_the_real_ip_it_set():
    assert client_ip(request_from(NGINX, HTTP_X_REAL_IP="198.51.100.7")) == "198.51.100.7"


def test_behind_the_trusted_proxy_the_client_is_the_rightmost_untrusted_forwarded_hop():
    request = request_from(NGINX, HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7, 10.0.0.9")

    assert client_ip(request) == "198.51.100.7"


def test_a_garbled_forwarded_header_falls_back_to_the_proxy_address():
    assert client_ip(request_from(NGINX, HTTP_X_FORWARDED_FOR="not-an-ip")) == NGINX
    assert client_ip(request_from(NGINX, HTTP_X_REAL_IP="999.1.1.1")) == NGINX


def test_with_no_trusted_proxies_forwarded_headers_are_ignored(settings):
    settings.TRUSTED_PROXIES = []

    assert client_ip(request_from(NGINX, HTTP_X_REAL_IP="198.51.100.7")) == NGINX


def test_audit_ips_are_kept_whole_by_default():
    assert audit_ip("198.51.100.7") == "198.51.100.7"


def test_audit_ips_can_be_truncated_for_privacy(settings):
    settings.AUDIT_TRUNCATE_IPS = True

    assert audit_ip("198.51.100.7") == "198.51.100.0"
    assert audit_ip("2001:db8:abcd:1234::1") == "2001:db8:abcd::"
