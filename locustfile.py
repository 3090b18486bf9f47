"""Load test: each simulated visitor gets a token, then classifies held-out digits.

    .venv/bin/locust -f locustfile.py --host http://127.0.0.1:8000

`make loadtest` runs it headless against `make stack` topologies and writes docs/loadtest.md.
The per-IP rate limit (100 per 15 minutes) must be raised for a load test: RATELIMIT_RATE.
"""

from locust import HttpUser, between, task

from torchserve.train import digit_to_png, digits_split

_, _, HELD_OUT, _ = digits_split()
IMAGES = [digit_to_png(pixels, size=128) for pixels in HELD_OUT[:50]]


class Visitor(HttpUser):
    wait_time = between(0, 0.1)

    def on_start(self) -> None:
        response = self.client.post("/api/v1/token/", name="/api/v1/token/")
        self.headers = {"Authorization": f"Bearer {response.json()['access']}"}
        self.next_image = 0

    @task
    def classify(self) -> None:
        image = IMAGES[self.next_image % len(IMAGES)]
        self.next_image += 1
        with self.client.post(
            "/api/v1/classify/",
            headers=self.headers,
            files={"image": ("digit.png", image, "image/png")},
            name="/api/v1/classify/",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
