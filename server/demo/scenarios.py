"""The demo's three faults, as the scripted demo agent knows them: which patch fixes which incident."""

from pathlib import Path

from pydantic import BaseModel

from server.common.untrusted import CLOSE, OPEN

PATCHES = Path(__file__).with_name("patches")


class Scenario(BaseModel):
    key: str
    title: str
    severity: str
    failing_test: str
    affected_file: str
    patch: str
    summary: str
    explanation: str

    def diff(self) -> str:
        return (PATCHES / self.patch).read_text()


SCENARIOS: list[Scenario] = [
    Scenario(
        key="pool",
        title="orders: connection pool exhausted",
        severity="critical",
        failing_test="tests/test_db.py::test_pool_recovers_after_failed_queries",
        affected_file="orders/db.py",
        patch="pool.diff",
        summary="return pooled connections when a query fails",
        explanation=(
            "ConnectionPool.connection() releases the connection only after a successful query: when the "
            "query raises, the generator never resumes, so the connection stays checked out. After `size` "
            "failed queries the pool is empty and every request waits out acquire_timeout and fails with "
            "PoolExhaustedError. Releasing in a finally block returns the connection on every path."
        ),
    ),
    Scenario(
        key="leak",
        title="orders: memory grows without bound (cache)",
        severity="high",
        failing_test="tests/test_cache.py::test_cache_is_bounded",
        affected_file="orders/cache.py",
        patch="leak.diff",
        summary="evict least recently used orders beyond max_entries",
        explanation=(
            "OrderCache.get() stores every order it loads and never evicts, so max_entries is ignored and "
            "memory grows with each distinct order read until the container is OOM-killed. The entries are an "
            "OrderedDict already kept in recency order; evicting from the front once the cache is over "
            "max_entries bounds it as configured and keeps hot orders."
        ),
    ),
    Scenario(
        key="auth",
        title="orders: valid service tokens rejected as expired",
        severity="high",
        failing_test="tests/test_auth.py::test_tokens_expire",
        affected_file="orders/auth.py",
        patch="auth.diff",
        summary="treat tokens as expired only once their expiry has passed",
        explanation=(
            "verify() raises TokenExpiredError when expires_at is in the future, the inverse of the intended "
            "check: every fresh token is refused (401 for all callers) and expired tokens are accepted. Comparing "
            "expires_at <= now fails closed once the expiry has passed and accepts tokens that are still valid."
        ),
    ),
]


#: The review round of the demo: what the reviewer asks on the cache fix, and the agent's follow-up.
REVIEW_SCENARIO = "leak"
REVIEW_FILE, REVIEW_LINE = "orders/cache.py", 24
REVIEW_REQUEST = "Please add a test that the least recently used order is the one evicted, not just any."
FOLLOW_UP_PATCH = "leak-review.diff"


def follow_up_diff() -> str:
    return (PATCHES / FOLLOW_UP_PATCH).read_text()


def unfenced(text: str) -> str:
    """Reported text as the agents' tools give it (fenced as untrusted data), without the fence."""
    return text.removeprefix(OPEN + "\n").removesuffix("\n" + CLOSE)


def for_incident(title: str, affected_files: list[str]) -> Scenario | None:
    """The scenario an incident is about, by its affected file or its title."""
    title = unfenced(title)
    files = [unfenced(path) for path in affected_files]
    for scenario in SCENARIOS:
        if scenario.affected_file in files or scenario.title == title:
            return scenario
    return None
