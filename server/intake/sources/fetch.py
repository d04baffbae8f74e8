"""The one network fetch the intake makes: SNS signing certificates and subscription confirmations.

HTTPS with certificate verification, no redirects (a redirect could point anywhere), a short
timeout for each step and for the whole fetch (a host trickling bytes cannot hold a worker), and
a size cap. The URLs were already checked to be on an SNS host before this runs, and the REST
face calls it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import time

import httpx

MAX_BYTES = 256 * 1024


class HttpsFetcher:
    def __init__(self, timeout: float = 3.0, total: float = 5.0) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, verify=True)
        self._total = total

    def __call__(self, url: str) -> bytes:
        if not url.startswith("https://"):
            raise ValueError("only https URLs are fetched")
        deadline = time.monotonic() + self._total
        with self._client.stream("GET", url) as response:
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise ValueError(f"{url} answered more than {MAX_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} took more than {self._total} s")
        return bytes(body)
