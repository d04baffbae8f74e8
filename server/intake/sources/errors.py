"""The monitor sources' errors: their branches of the one tree drawn in ``server.errors``."""

from __future__ import annotations

from collections.abc import Iterable

from server.errors import InvalidInput, NotFound, Unauthenticated, Unavailable


class SourceUnauthorized(Unauthenticated):
    """The delivery failed a verification that the source's configuration asks for."""

    def __init__(self, source: str, check: str) -> None:
        super().__init__(f"alert source {source!r} refused the delivery: {check}")
        self.source = source
        self.check = check


class PayloadInvalid(InvalidInput):
    """The body is not what this kind of monitor sends; ``path`` says where, e.g. ``alerts[0].labels``."""

    def __init__(self, path: str, reason: str, *, source_type: str | None = None) -> None:
        what = f" ({source_type} webhook body)" if source_type else ""
        super().__init__(f"{path}: {reason}{what}", field=path)
        self.path = path
        self.reason = reason
        self.source_type = source_type


class SourceNotFound(NotFound):
    def __init__(self, name: str, configured: Iterable[str]) -> None:
        names = ", ".join(sorted(configured)) or "none"
        super().__init__(
            f"no alert source {name!r}; POST to /alerts/<name> with one of: {names} "
            "(add [sources.<name>] with a `type` to healer.toml for another)"
        )
        self.name = name


class CertificateUnavailable(Unavailable):
    """The SNS signing certificate could not be fetched; the delivery may succeed when retried."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"could not fetch the SNS signing certificate {url}: {reason}; SNS retries the delivery")
        self.url = url
        self.reason = reason
