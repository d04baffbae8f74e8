"""Shipped triage rules for what goes wrong at run time: the network and the application's own errors.

Part of the shipped rule set (see server.triage.shipped_rules for how it is ordered and why).
"""

from __future__ import annotations

from server.models import Category
from server.triage.rules import TriageRule

C = Category

RUNTIME_RULES: tuple[TriageRule, ...] = (
    # ---- network ------------------------------------------------------------------------
    TriageRule(
        name="dns-failure",
        category=C.network,
        priority=85,
        confidence=0.85,
        patterns=(
            r"getaddrinfo (ENOTFOUND|EAI_AGAIN)",
            r"\bEAI_AGAIN\b|\bENOTFOUND\b",
            r"name or service not known",
            r"temporary failure in name resolution",
            r"\bno such host\b",
            r"\bNXDOMAIN\b",
            r"UnknownHostException",
            r"could not resolve host",
            r"nodename nor servname provided",
            r"dial tcp: lookup ",
        ),
        summary="DNS lookup failed in {service}: {match}",
        suggested_fix="Check the host name (typo, wrong namespace or environment) and the resolver "
        "(CoreDNS health, search domains); retry lookups with backoff.",
    ),
    TriageRule(
        name="connection-refused",
        category=C.network,
        priority=70,
        confidence=0.75,
        patterns=(
            r"\bECONNREFUSED\b",
            r"connection refused",
            r"\bConnectException\b",
            r"\bConnectionRefusedError\b",
            r"failed to establish a new connection",
            r"\bno route to host\b|\bEHOSTUNREACH\b|\bENETUNREACH\b|network is unreachable",
        ),
        summary="Upstream refused connections from {service}: {match}",
        suggested_fix="Check the upstream is running and listening on that address (Service, port, "
        "readiness); add retries with backoff and a circuit breaker around the call.",
    ),
    TriageRule(
        name="connection-reset",
        category=C.network,
        priority=70,
        confidence=0.75,
        patterns=(
            r"\bECONNRESET\b",
            r"connection reset by peer",
            r"socket hang up",
            r"\bbroken pipe\b|\bEPIPE\b",
            r"\bConnection aborted\b|\bRemoteDisconnected\b",
            r"upstream prematurely closed connection",
            r"\bunexpected EOF\b",
        ),
        summary="Connection dropped mid-request in {service}: {match}",
        suggested_fix="Align keep-alive and idle timeouts between client, proxy and server, and retry "
        "idempotent requests once on a reset.",
    ),
    TriageRule(
        name="upstream-unavailable",
        category=C.network,
        priority=62,
        confidence=0.7,
        patterns=(
            r"\b502 Bad Gateway\b",
            r"\b503 Service (Temporarily )?Unavailable\b",
            r"no healthy upstream",
            r"upstream connect error",
            r"\bUNAVAILABLE: ",
            r"circuit ?breaker .{0,20}\bopen\b",
            r"TLS handshake (timeout|error|failed)",
            r"\bpacket loss\b",
        ),
        summary="Upstream unavailable for {service}: {match}",
        suggested_fix="Check the upstream's health and capacity; retry with backoff and fail fast "
        "(circuit breaker) while it recovers.",
    ),
    TriageRule(
        name="timeout",
        category=C.network,
        priority=60,
        confidence=0.65,
        patterns=(
            r"\bETIMEDOUT\b|\bESOCKETTIMEDOUT\b",
            r"\b(read|connect|connection|request|socket|gateway|upstream) ?timed? ?out\b",
            r"\btimed out\b",
            r"\bi/o timeout\b",
            r"context deadline exceeded|\bDEADLINE_EXCEEDED\b",
            r"\b(Socket|Connect)TimeoutException\b",
            r"\b(ReadTimeout|ConnectTimeout|ConnectTimeoutError|ReadTimeoutError)\b",
            r"\b504 Gateway Time-?out\b",
        ),
        summary="Timeout in {service}: {match}",
        suggested_fix="Find which dependency is slow (traces); set explicit timeouts shorter than the "
        "caller's, retry idempotent calls with backoff, and shed load when queues grow.",
    ),
    # ---- application --------------------------------------------------------------------
    TriageRule(
        name="null-dereference",
        category=C.application,
        priority=85,
        confidence=0.85,
        patterns=(
            r"\bNullPointerException\b",
            r"Cannot (read|set) propert(y|ies) of (undefined|null)",
            r"\b(undefined|null) is not an object",
            r"'NoneType' object (has no attribute|is not (subscriptable|iterable|callable))",
            r"invalid memory address or nil pointer dereference",
            r"undefined method .{0,80} for nil",
            r"\bNullReferenceException\b|Object reference not set to an instance of an object",
            r"called `(Option|Result)::unwrap\(\)` on an? `(None|Err)` value",
        ),
        summary="Null dereference in {service}: {match}",
        suggested_fix="Find where the value is absent (the first frame in the service's code), handle the "
        "missing case explicitly, and add a test with that input.",
    ),
    TriageRule(
        name="bounds-or-key-error",
        category=C.application,
        priority=75,
        confidence=0.8,
        patterns=(
            r"\bIndexError\b",
            r"index out of range",
            r"\b(Array|String)?IndexOutOfBoundsException\b",
            r"KeyError: ['\"]?(?-i:[a-z_][a-z0-9_]*)['\"]?",
            r"\bRangeError\b",
            r"Maximum call stack size exceeded|\bStackOverflowError\b|\bRecursionError\b",
            r"slice bounds out of range",
        ),
        summary="Bad index or key in {service}: {match}",
        suggested_fix="Check the collection's size or the key's presence before access on the failing path, "
        "and add a test with the empty or unexpected input.",
    ),
    TriageRule(
        name="runtime-error",
        category=C.application,
        priority=50,
        confidence=0.65,
        patterns=(
            r"\b(TypeError|ValueError|AttributeError|NameError|UnboundLocalError|AssertionError|ZeroDivisionError)\b",
            r"division by zero|/ by zero|integer divide by zero",
            r"\b(ClassCast|NumberFormat|IllegalArgument|IllegalState|ConcurrentModification|Arithmetic|UnsupportedOperation)Exception\b",
            r"\bReferenceError: \w+ is not defined",
            r"\bpanic: ",
            r"all goroutines are asleep - deadlock",
            r"concurrent map (read and map )?writes?|concurrent map iteration and map write",
            r"\bunhandled (exception|promise rejection|rejection)\b|UnhandledPromiseRejection",
            r"\bJSONDecodeError\b|Unexpected token .{0,20} in JSON|\bSyntaxError\b",
            r"\bNoMethodError\b|\bArgumentError\b",
            r"\bSegmentation fault\b|\bSIGSEGV\b|\bSIGABRT\b",
        ),
        summary="Unhandled error in {service}: {match}",
        suggested_fix="Reproduce with the failing input, fix the code path at the first frame in the service, "
        "and add a regression test.",
    ),
    TriageRule(
        name="unhandled-exception",
        category=C.application,
        priority=20,
        confidence=0.4,
        patterns=(
            r"Traceback \(most recent call last\)",
            r"\bException in thread\b",
            r"\b500 Internal Server Error\b",
            r"\bUncaught\b",
            r"\b\w+(Exception|Error): ",
        ),
        summary="Unhandled error in {service}: {match}",
        suggested_fix=None,
    ),
)
