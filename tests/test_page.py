import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_the_page_is_served_at_the_root(client):
    response = client.get("/")

    assert response.status_code == 200
    assert b"inferapi: classify an image" in response.content


def test_the_page_has_no_inline_script_or_style(client):
    html = client.get("/").content.decode()

    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_the_page_loads_its_script_and_stylesheet_from_static_files(client):
    html = client.get("/").content.decode()

    assert '<script src="/static/js/app.js" defer>' in html
    assert 'href="/static/css/app.css"' in html
    assert finders.find("js/app.js") and finders.find("css/app.css")


def test_the_script_uses_session_storage_and_the_api_endpoints():
    script = Path(finders.find("js/app.js")).read_text()

    assert "sessionStorage" in script
    assert "innerHTML" not in script
    assert "Retry-After" in script
