"""The pull request's title and body: clear for reviewers (and CodeRabbit), safe with untrusted text.

The bot owns only the part of the body between its own markers; anything another bot added
(CodeRabbit's summary, say) or a person wrote outside them survives every rewrite. Incident text
comes from the failing system, so it is neutralized: no raw HTML, no @mentions that ping people,
no slash commands, and logs sit inside fences they cannot close.
"""

import re

from fixer.forge import marker
from fixer.models import FixRequest, TestRun, Verification

BODY_START = "<!-- healer:body:start -->"
BODY_END = "<!-- healer:body:end -->"
#: Around the first fix's account (title's story, root cause, files, verification): kept through review rounds.
ORIGINAL_START = "<!-- healer:original:start -->"
ORIGINAL_END = "<!-- healer:original:end -->"
#: Around the review rounds so far, one block each, oldest first.
ROUNDS_START = "<!-- healer:rounds:start -->"
ROUNDS_END = "<!-- healer:rounds:end -->"
ROUND_PREFIX = "<!-- healer:round="
#: GitHub refuses a body over 65,536 characters; the bot's part stays under this, leaving room for others'.
SECTION_BUDGET = 56_000
_OUTPUT = re.compile(r"<details><summary>Test output .*?</details>", re.DOTALL)
TRIMMED = "<sub>Test output trimmed to keep the description within GitHub's size limit.</sub>"
_MENTION = re.compile(r"@(?=[A-Za-z0-9-])")
_COMMAND = re.compile(r"^(\s*)/", re.MULTILINE)


def neutralize(text: str) -> str:
    """Untrusted text made inert in Markdown: HTML escaped, mentions and /commands defused."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MENTION.sub("@\u200b", text)
    return _COMMAND.sub("\\1\u200b/", text)


def fenced(text: str, language: str = "text") -> str:
    """``text`` in a code fence longer than any backtick run inside it, so it cannot break out."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def title(request: FixRequest) -> str:
    summary = one_line(request.summary, 90)
    service = re.sub(r"[^A-Za-z0-9._-]", "-", request.service)[:40]
    return f"fix({service}): {summary} [{request.incident_id}]"


def _run_block(label: str, run: TestRun | None) -> str:
    if run is None:
        return f"- {label}: not run"
    state = "timed out" if run.timed_out else ("passed" if run.passed else f"failed (exit {run.exit_code})")
    failing = f"; failing: {', '.join(f'`{t}`' for t in run.failed_tests[:10])}" if run.failed_tests else ""
    return f"- {label}: {state} in {run.duration_seconds:.1f}s{failing}"


def verification_section(result: Verification, heading: str = "###") -> str:
    lines = [f"{heading} Verification", "", f"**{result.summary()}**", ""]
    lines.append(_run_block("Before the change (base)", result.before))
    lines.append(_run_block("After the change", result.after))
    for label, run in (("before", result.before), ("after", result.after)):
        if run is not None:
            lines += [
                "",
                f"<details><summary>Test output {label}: <code>{neutralize(run.command)}</code></summary>",
                "",
                fenced(run.output),
                "",
                "</details>",
            ]
    return "\n".join(lines)


def _files(files: list[tuple[str, int, int]]) -> str:
    return "\n".join(f"- `{neutralize(path)}` (+{added} -{removed})" for path, added, removed in files)


def original_section(request: FixRequest, verification: Verification, files: list[tuple[str, int, int]]) -> str:
    """The first fix's account; a review round keeps it as it was and adds a round below it."""
    parts = [
        "## What happened",
        "",
        f"Incident **{request.incident_id}** in service `{neutralize(request.service)}` "
        f"(severity {neutralize(request.severity)}), reported as:",
        "",
        fenced(request.title),
        "",
        "The text above comes from the failing system and is shown as data.",
        "",
        f"## Root cause (as explained by {neutralize(request.agent)})",
        "",
        neutralize(request.explanation),
        "",
        "## What changed",
        "",
        _files(files),
        "",
        verification_section(verification),
        "",
        "## Risk",
        "",
        neutralize(request.risk)
        if request.risk
        else "No specific risk noted by the agent; review the change as usual.",
    ]
    if request.addresses:
        parts += ["", "## Review findings addressed", "", *[f"- {neutralize(item)}" for item in request.addresses]]
    return "\n".join(parts)


def round_section(
    number: int, request: FixRequest, verification: Verification, files: list[tuple[str, int, int]], commit: str
) -> str:
    """One review round: what it addressed, what the agent said and changed, and its own verification."""
    addressed = [f"- {neutralize(item)}" for item in request.addresses] or ["- (no findings named)"]
    parts = [
        f"{ROUND_PREFIX}{commit} -->",
        f"### Round {number}: {neutralize(one_line(request.summary, 90))} (commit `{commit[:12]}`)",
        "",
        "**Addressed**",
        "",
        *addressed,
        "",
        f"**What {neutralize(request.agent)} did**",
        "",
        neutralize(request.explanation),
        "",
        "**Files in this round**",
        "",
        _files(files),
        "",
        verification_section(verification, heading="####"),
    ]
    if request.risk:
        parts += ["", f"**Risk**: {neutralize(request.risk)}"]
    return "\n".join(parts)


def _between(text: str, start: str, end: str) -> str | None:
    if start not in text or end not in text:
        return None
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def _earlier(previous: str | None) -> tuple[str | None, list[str]]:
    """The first fix's account and the rounds so far, from the pull request's current body."""
    if not previous:
        return None, []
    own = _between(previous, BODY_START, BODY_END)
    if own is None:
        return None, []
    original = _between(own, ORIGINAL_START, ORIGINAL_END)
    if original is None:  # a body written before rounds were kept: all of it is the first account
        return own, []
    rounds = _between(own, ROUNDS_START, ROUNDS_END) or ""
    blocks = [f"{ROUND_PREFIX}{block}".strip("\n") for block in rounds.split(ROUND_PREFIX)[1:]]
    return original, blocks


def bot_section(
    request: FixRequest,
    verification: Verification,
    files: list[tuple[str, int, int]],
    notes: list[str] | None = None,
    *,
    previous: str | None = None,
    commit: str = "",
) -> str:
    """The bot's part of the body. With ``previous`` (the body of the PR being updated) this is a review
    round: the first fix's account stays as it was and the round is added under "Review rounds"."""
    original, rounds = _earlier(previous)
    if original is None:
        original = original_section(request, verification, files)
    elif not any(block.startswith(f"{ROUND_PREFIX}{commit} -->") for block in rounds):
        rounds.append(round_section(len(rounds) + 1, request, verification, files, commit))
    parts = [ORIGINAL_START, original, ORIGINAL_END]
    if rounds:
        parts += ["", "## Review rounds", "", ROUNDS_START, "\n\n".join(rounds), ROUNDS_END]
    if not verification.verified:
        what = "the latest round" if rounds else "the fix"
        parts += ["", f"> This pull request is a **draft**: the tests did not confirm {what}."]
    if notes:
        parts += ["", *[f"> {neutralize(note)}" for note in notes]]
    if request.incident_url:
        parts += ["", f"Incident: {request.incident_url}"]
    parts += [
        "",
        f"<sub>Opened by devops-healer for {request.incident_id} (trace {neutralize(request.trace_id)}). "
        "It never approves or merges its own pull requests.</sub>",
    ]
    return fit("\n".join(parts))


def fit(section: str, budget: int = SECTION_BUDGET) -> str:
    """The section within ``budget`` characters: test outputs go first, oldest first, then the tail."""
    while len(section) > budget:
        found = _OUTPUT.search(section)
        if found is None:
            return section[: budget - 40] + "\n\n(description cut at GitHub's size limit)"
        section = section[: found.start()] + TRIMMED + section[found.end() :]
    return section


def body(section: str, incident_id: str, previous: str | None = None) -> str:
    """The full body: the bot's section between its markers, everything else in ``previous`` kept."""
    own = f"{BODY_START}\n{section}\n{BODY_END}"
    tag = marker(incident_id)
    if previous and BODY_START in previous and BODY_END in previous:
        head, _, rest = previous.partition(BODY_START)
        _, _, tail = rest.partition(BODY_END)
        text = f"{head}{own}{tail}"
    elif previous:
        text = f"{own}\n\n{previous}"
    else:
        text = own
    if tag not in text:
        text = f"{text}\n\n{tag}"
    return text
