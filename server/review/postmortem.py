"""The postmortem: what happened, what was changed, how we know it worked, and how long each step took.

It is written once the incident is verified or escalated (a person took over), and rebuilt
from the store each time it is read, so later timeline events (a reopened incident, a second
round of review) are never missing from it. Incident text is quoted, never interpreted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from server.common.redact import redact
from server.errors import NoPostmortem
from server.models import Incident, Status, TimelineEvent
from server.store import Store

#: States after which a postmortem exists.
WRITTEN_AT = frozenset({Status.verified, Status.escalated})


def has_postmortem(incident: Incident, events: list[TimelineEvent]) -> bool:
    return incident.status in WRITTEN_AT or any(e.event in ("verified", "escalated") for e in events)


def render(store: Store, incident_id: str) -> str | None:
    """The postmortem as Markdown, or None while the incident has none."""
    incident = store.get(incident_id)
    events = store.timeline(incident_id, limit=5000)
    if not has_postmortem(incident, events):
        return None
    # Redacted as a whole as it leaves: quoted agent and test text included, whenever it was stored.
    return redact(_markdown(incident, events))


def require(store: Store, incident_id: str) -> str:
    text = render(store, incident_id)
    if text is None:
        incident = store.get(incident_id)
        raise NoPostmortem(incident.id, incident.status.value)
    return text


def _quote(text: str | None, limit: int = 2000) -> str:
    """Untrusted text as a Markdown block quote, so it cannot open headings, links to run, or HTML."""
    if not text:
        return "> (none)"
    clipped = text if len(text) <= limit else text[:limit] + " [...]"
    clipped = clipped.replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(f"> {line}" if line else ">" for line in clipped.splitlines())


def _span(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "n/a"
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _first(events: list[TimelineEvent], *names: str) -> TimelineEvent | None:
    return next((e for e in events if e.event in names), None)


def _last(events: list[TimelineEvent], *names: str) -> TimelineEvent | None:
    return next((e for e in reversed(events) if e.event in names), None)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _markdown(incident: Incident, events: list[TimelineEvent]) -> str:
    received = events[0].at if events else incident.first_seen
    pr_opened = _first(events, "pr_opened")
    merged = _last(events, "pr_merged")
    verified = _last(events, "verified")
    deployed = _last(events, "deployed")
    escalated = _last(events, "escalated", "stopped", "denied")
    fixes = [e for e in events if e.event in ("pr_opened", "pr_updated")]
    rounds = [e for e in events if e.event == "changes_requested"]
    verdicts = [e for e in events if e.event in ("approved_by_reviewer", "changes_requested", "reviewed")]
    regressions = [e for e in events if e.event == "regressed"]
    outcome = {
        Status.verified: "Fixed and verified.",
        Status.escalated: "Escalated to people.",
    }.get(incident.status, f"Now {incident.status.value}.")

    out: list[str] = [f"# Postmortem: {incident.id}", ""]
    out += [f"**{outcome}** Service `{incident.service}`, severity {incident.severity.value}.", ""]
    out += ["## Summary", "", _quote(incident.summary or incident.title), ""]
    out += [
        "## Impact",
        "",
        f"- Occurrences: {incident.occurrences}",
        f"- First seen: {_when(incident.first_seen)}",
        f"- Last seen: {_when(incident.last_seen)}",
        f"- Services: {incident.service}",
        f"- Source: {incident.source}",
        "",
        "Error:",
        "",
        _quote(incident.error, 1000),
        "",
    ]
    out += ["## Root cause", ""]
    if fixes:
        first = fixes[0]
        explanation = str(first.detail.get("explanation"))
        out += [f"As explained by `{first.actor}` with the fix:", "", _quote(explanation)]
    else:
        out += ["No fix was submitted; see the timeline for what people decided."]
    out += [""]
    out += ["## The change", ""]
    if incident.pull_request and incident.pull_request.url:
        pr = incident.pull_request
        out += [f"- Pull request: #{pr.number} {pr.url} (branch `{pr.branch}`)"]
        for fix in fixes:
            files = ", ".join(f"`{f}`" for f in fix.detail.get("files", [])) or "n/a"
            verdict = fix.detail.get("verification", "n/a")
            commit = str(fix.detail.get("commit", ""))[:12]
            what = str(fix.detail.get("summary") or fix.event.replace("_", " "))[:200]
            out += [f"- Commit `{commit}` ({_when(fix.at)}): {what}; {files}; tests {verdict}"]
        if merged is not None:
            commit = merged.detail.get("merge_commit") or merged.detail.get("head") or ""
            out += [
                f"- Merged {_when(merged.at)} by `{merged.actor}` {('at `' + str(commit)[:12] + '`') if commit else ''}"
            ]
    else:
        out += ["No pull request."]
    out += [""]
    out += ["## Review", ""]
    out += [f"- Rounds with changes requested: {len(rounds)}", f"- Follow-up commits: {max(0, len(fixes) - 1)}"]
    for verdict in verdicts:
        label = {"approved_by_reviewer": "approved", "changes_requested": "changes requested"}.get(
            verdict.event, "commented"
        )
        out += [f"- {_when(verdict.at)}: `{verdict.actor}` {label}"]
    out += [""]
    out += ["## Verification", ""]
    if deployed is not None:
        sha, environment = str(deployed.detail.get("sha", ""))[:12], deployed.detail.get("environment", "")
        out += [f"- Deployed {_when(deployed.at)} to `{environment}` at `{sha}`, by `{deployed.actor}`"]
    if verified is not None:
        out += [f"- {_when(verified.at)}: {verified.detail.get('why', 'verified')}"]
    for regression in regressions:
        out += [f"- {_when(regression.at)}: regressed: {regression.detail.get('why', '')}"]
    if verified is None and not regressions:
        out += ["- Not verified."]
    if escalated is not None:
        why = escalated.detail.get("why") or escalated.detail.get("reason") or ""
        out += [f"- Escalated {_when(escalated.at)} by `{escalated.actor}`{': ' + str(why) if why else ''}"]
    out += [""]
    out += ["## Time to", "", "| step | time |", "| --- | --- |"]
    opened_at = pr_opened.at if pr_opened else None
    merged_at = merged.at if merged else None
    verified_at = verified.at if verified else None
    out += [
        f"| detect (first seen -> received) | {_span(incident.first_seen, received)} |",
        f"| pull request (received -> PR opened) | {_span(received, opened_at)} |",
        f"| merge (PR opened -> merged) | {_span(opened_at, merged_at)} |",
        *(
            [
                f"| deploy (merged -> deployed) | {_span(merged_at, deployed.at)} |",
                f"| verified (deployed -> verified) | {_span(deployed.at, verified_at)} |",
            ]
            if deployed is not None
            else [f"| verified (merged -> verified) | {_span(merged_at, verified_at)} |"]
        ),
        f"| total (received -> verified) | {_span(received, verified_at)} |",
        "",
    ]
    out += ["## Timeline", "", "| time | actor | event |", "| --- | --- | --- |"]
    for event in events:
        note = event.detail.get("why") or event.detail.get("reason") or ""
        note = str(note).replace("|", "\\|").replace("\n", " ")[:160]
        out += [f"| {_when(event.at)} | `{event.actor}` | {event.event}{' (' + note + ')' if note else ''} |"]
    out += ["", f"Trace id: `{incident.trace_id}`", ""]
    return "\n".join(out)


def durations(incident: Incident, events: list[TimelineEvent]) -> dict[str, timedelta | None]:
    """Time to PR, to merge and to verified, for the dashboard and metrics."""
    received = events[0].at if events else incident.first_seen
    opened, merged, verified = _first(events, "pr_opened"), _last(events, "pr_merged"), _last(events, "verified")
    return {
        "to_pr": opened.at - received if opened else None,
        "to_merge": merged.at - opened.at if merged and opened else None,
        "to_verified": verified.at - merged.at if verified and merged else None,
    }
