"""Shipped triage rules for how a service is set up: credentials, configuration and dependencies.

Part of the shipped rule set (see server.triage.shipped_rules for how it is ordered and why).
"""

from __future__ import annotations

from server.models import Category
from server.triage.rules import WITH_LABELS, TriageRule

C = Category

SETUP_RULES: tuple[TriageRule, ...] = (
    # ---- auth ---------------------------------------------------------------------------
    TriageRule(
        name="certificate-invalid",
        category=C.auth,
        priority=95,
        confidence=0.95,
        patterns=(
            r"x509: certificate has expired",
            r"certificate (has )?expired",
            r"\bCERT_HAS_EXPIRED\b",
            r"certificate verify failed",
            r"SSLCertVerificationError",
            r"PKIX path (building|validation) failed",
            r"unable to (get local issuer certificate|verify the first certificate)",
            r"x509: certificate (signed by unknown authority|is valid for|is not valid)",
            r"self[- ]signed certificate",
            r"\bCertificateExpired\b|\bcert(ificate)?-?expir(y|ing|es)\b",
        ),
        summary="TLS certificate rejected by {service}: {match}",
        suggested_fix="Renew the certificate (and automate renewal, e.g. cert-manager or ACME), make sure the "
        "full chain is served, and alert 30 days before expiry.",
    ),
    TriageRule(
        name="credentials-expired",
        category=C.auth,
        priority=90,
        confidence=0.9,
        patterns=(
            r"\b(token|jwt|credentials?|session|password) (has |is )?expired",
            r"\b(jwt|token) expired\b",
            r"\bTokenExpiredError\b|\bExpiredSignatureError\b|\bExpiredToken(Exception)?\b",
            r"\binvalid_grant\b|\binvalid_client\b|\binvalid_token\b|\bunauthorized_client\b",
            r"signature has expired",
            r"security token included in the request is (expired|invalid)",
            r"\bAADSTS\d{5,}",
        ),
        summary="Expired or revoked credentials in {service}: {match}",
        suggested_fix="Rotate the credential and load it from the secret store at runtime; refresh tokens "
        "before expiry instead of after a 401.",
    ),
    TriageRule(
        name="authentication-failed",
        category=C.auth,
        priority=85,
        confidence=0.85,
        patterns=(
            r"password authentication failed",
            r"access denied for user",
            r"authentication fail(ed|ure)",
            r"login failed for user",
            r"invalid (username or password|credentials|api[ _-]?key|api[ _-]?token|client secret)",
            r"\bNOAUTH\b|\bWRONGPASS\b",
            r"\bbad credentials\b",
            r"\b401\b.{0,30}unauthori[sz]ed|unauthori[sz]ed.{0,30}\b401\b",
            r"(status|status_code|statusCode|code|HTTP)[=: ]+401\b",
            r"\bHTTP/\d(\.\d)? 401\b",
            r"\bUnauthenticated\b|\bUNAUTHENTICATED\b",
            r"SASL authentication failed",
            r"\b(Exception|Error):? 401\b",
        ),
        summary="Authentication failed in {service}: {match}",
        suggested_fix="Check which credential the service presents (rotated, wrong environment, missing "
        "scope) and update it in the secret store, not in code.",
    ),
    TriageRule(
        name="authorization-denied",
        category=C.auth,
        priority=80,
        confidence=0.8,
        patterns=(
            r"\b403\b.{0,30}forbidden|forbidden.{0,30}\b403\b",
            r"(status|status_code|statusCode|code|HTTP)[=: ]+403\b",
            r"\bAccessDenied(Exception)?\b",
            r"is not authorized to perform",
            r"permission denied for (table|relation|schema|database|sequence|function)",
            r"\bPERMISSION_DENIED\b",
            r"forbidden: User \"[^\"]+\" cannot",
            r"insufficient[_ ](scope|permissions?|privileges?)",
            r"does not have (the )?(required )?permission",
            r"\b(Exception|Error):? 403\b",
            r"Resource not accessible by (integration|personal access token)",
        ),
        summary="Access denied to {service}: {match}",
        suggested_fix="Grant the missing permission to the service's identity (IAM policy, RBAC role, "
        "database GRANT) with the least scope that works.",
    ),
    # ---- config -------------------------------------------------------------------------
    TriageRule(
        name="missing-env-var",
        category=C.config,
        priority=90,
        confidence=0.9,
        patterns=(
            r"KeyError: ['\"](?-i:[A-Z][A-Z0-9]*_[A-Z0-9_]+)['\"]",
            r"\b(env(ironment)?) ?var(iable)?s?\b.{0,60}\b(not set|missing|required|undefined|not defined|empty)\b",
            r"\b(missing|required|undefined) (env(ironment)?) ?var(iable)?s?\b",
            r"\b(?-i:[A-Z][A-Z0-9]*_[A-Z0-9_]+) (is )?(not set|must be set|is required|is undefined|missing)\b",
            r"process\.env\.(?-i:[A-Z][A-Z0-9_]+) is (undefined|not set)",
            r"\bImproperlyConfigured\b",
            r"validation errors? for \w*(Settings|Config)\b",
        ),
        summary="{service} is missing configuration: {match}",
        suggested_fix="Set the variable in the deployment (manifest, secret, or .env for local runs) and make "
        "start-up fail fast with the variable's name when it is absent.",
    ),
    TriageRule(
        name="config-invalid",
        category=C.config,
        priority=80,
        confidence=0.8,
        fields=WITH_LABELS,
        patterns=(
            r"\bCreateContainerConfigError\b",
            r"(configmaps?|secrets?) \"[^\"]+\" not found",
            r"couldn't find key \S+ in (ConfigMap|Secret)",
            r"\binvalid (configuration|config|setting)s?\b",
            r"\bconfig(uration)? (file )?(not found|is missing|could not be (loaded|read|parsed))",
            r"\b(yaml|toml|json)\.(scanner|parser|decoder)\.|\bYAMLException\b|\bScannerError\b",
            r"while parsing a (block|flow) mapping",
            r"\b(unknown|unrecognized|unsupported) (configuration|config) (key|option|parameter|setting)",
            r"unrecognized configuration parameter",
            r"invalid value for (parameter|setting|option)",
            r"(FileNotFoundError|No such file or directory|ENOENT)\b.{0,120}"
            r"\.(ya?ml|toml|ini|conf|cfg|env|properties|json)\b",
            r"could not resolve placeholder",
            r"failed to bind properties",
            r"\baddress already in use\b|\bEADDRINUSE\b",
            r"PermissionError: \[Errno 13\] Permission denied: '/|EACCES: permission denied, (open|mkdir)",
            r"\bunknown directive \"",
            r"configuration file \S+ test failed",
        ),
        summary="Invalid configuration for {service}: {match}",
        suggested_fix="Correct the named setting or file in the deployment's configuration, and validate "
        "configuration at start-up so a bad value fails the rollout, not live traffic.",
    ),
    # ---- dependency ---------------------------------------------------------------------
    TriageRule(
        name="module-missing",
        category=C.dependency,
        priority=90,
        confidence=0.9,
        patterns=(
            r"ModuleNotFoundError: No module named",
            r"ImportError: (cannot import name|No module named)",
            r"Cannot find module '[^']+'",
            r"\bERR_MODULE_NOT_FOUND\b|\bMODULE_NOT_FOUND\b",
            r"java\.lang\.NoClassDefFoundError|\bClassNotFoundException\b",
            r"no required module provides package|cannot find package",
            r"LoadError: cannot load such file",
            r"Could not load file or assembly",
            r"error while loading shared libraries",
            r"cannot open shared object file",
            r"GLIBC(XX)?_[\d.]+' not found",
            r"Library not loaded",
            r"Cannot find package '[^']+' imported from",
        ),
        summary="Missing dependency in {service}: {match}",
        suggested_fix="Declare the package in the project's dependency file and lock file, rebuild the image, "
        "and check the import path for typos or a renamed module.",
    ),
    TriageRule(
        name="version-conflict",
        category=C.dependency,
        priority=90,
        confidence=0.85,
        patterns=(
            r"\bVersionConflict\b|\bResolutionImpossible\b",
            r"conflicting dependencies",
            r"\bERESOLVE\b|unable to resolve dependency tree",
            r"\bpeer dep(endency)?\b.{0,60}\b(conflict|missing|incompatible|requires)",
            r"could not resolve dependenc(y|ies)",
            r"requires [\w.-]+ ?[<>=~!^]=?\s*[\d.]+.{0,40}but (you have|[\w.-]+ [\d.]+ is installed)",
            r"java\.lang\.(NoSuchMethodError|NoSuchFieldError|IncompatibleClassChangeError|AbstractMethodError)",
            r"UnsupportedClassVersionError|compiled by a more recent version of the Java Runtime",
            r"dtype size changed, may indicate binary incompatibility",
            r"was compiled against (API|ABI) version",
            r"module '[\w.]+' has no attribute '\w+'",
            r"\bincompatible (versions?|with installed)\b",
        ),
        summary="Dependency version conflict in {service}: {match}",
        suggested_fix="Pin the dependency to a version compatible with its users (lock file), or upgrade the "
        "code to the new API; rebuild from a clean environment.",
    ),
)
