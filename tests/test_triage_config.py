"""check_config: every problem in the triage, routing and notify tables, with its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.common.toml_lines import dotted, key_lines, line_of
from server.triage.checks import Problem, check_config

GOOD = """\
[repos.shop]
path = "."
services = ["checkout", "payments"]

[triage]
classifier = "rules"

[[triage.rules]]
name = "search-timeouts"
category = "dependency"
patterns = ['search-api.*timed out']
priority = 70

[routing]
automation = "pull_request"

[[routing.rules]]
name = "dev-is-quiet"
match = ['labels.env="dev"', { name = "severity", op = "!~", value = "critical" }]
route = "monitor"

[[routing.rules]]
name = "page"
cel = "severity_rank >= 4"
route = "escalate"
notify = ["oncall"]

[routing.services.payments]
automation = "patch"

[routing.approval]
users = ["alice"]
expiry_hours = 12

[notify.channels.oncall]
type = "slack"
url = "env:HEALER_SLACK_URL"

[notify.routes]
approval_needed = ["oncall"]
"""

BAD = """\
[repos.shop]
path = "."

[triage]
clasifier = "rules"

[[triage.rules]]
name = "good"
category = "database"
patterns = ['pool exhausted']

[[triage.rules]]
name = "good"
category = "database"
patterns = [
  'fine',
  '(unclosed',
]
severity = "urgent"

[routing]
automation = "pull_request"

[[routing.rules]]
name = "cel-typo"
cel = "severity_rank >= "
route = "approval"

[[routing.rules]]
name = "bad-matcher"
match = ['severity=~"critical|high"', 'service']
route = "escalate"

[[routing.rules]]
name = "pages"
route = "escalate"
notify = ["oncall", "pager"]

[routing.services.payments]
automation = "everything"

[routing.approval]
diff_patterns = ['DROP TABLE', '[unclosed']

[notify.channels.oncall]
type = "slack"
url = "env:HEALER_SLACK_URL"

[notify.channels.audit]
type = "webhook"
url = "https://audit.example.com/hooks"
secret = "not-a-secret"

[notify.routes]
merged = ["oncall", "teams"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "healer.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_has_no_problems(tmp_path: Path) -> None:
    assert check_config(write(tmp_path, GOOD)) == []


def test_every_problem_is_reported_with_its_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    got = [(problem.line, problem.key, problem.message.split(":")[0].split(";")[0]) for problem in check_config(path)]
    assert got == [
        (5, "triage.clasifier", "unknown key"),
        (13, "triage.rules[1].name", "duplicate of triage.rules[0]"),
        (17, "triage.rules[1].patterns[1]", "'(unclosed' is not a valid regular expression"),
        (19, "triage.rules[1].severity", "Input should be 'critical', 'high', 'medium' or 'low', got 'urgent'"),
        (26, "routing.rules[0].cel", "CEL expression 'severity_rank >= ' does not compile"),
        (31, "routing.rules[1].match[1]", "cannot read matcher 'service'"),
        (37, "routing.rules[2].notify[1]", "no channel named 'pager'"),
        (
            40,
            "routing.services.payments.automation",
            "Input should be 'root_cause_only', 'patch' or 'pull_request', got 'everything'",
        ),
        (43, "routing.approval.diff_patterns[1]", "'[unclosed' is not a valid regular expression"),
        (52, "notify.channels.audit.secret", "a webhook secret is 'whsec_' followed by base64"),
        (55, "notify.routes.merged[1]", "no channel named 'teams'"),
    ]


def test_problem_reads_as_file_line_key_message(tmp_path: Path) -> None:
    path = write(tmp_path, "[routing]\nautomation = 'all'\n")
    (problem,) = check_config(path)
    assert str(problem) == (
        f"{path}:2: routing.automation: Input should be 'root_cause_only', 'patch' or 'pull_request', got 'all'"
    )


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[triage]\nclassifier = "rules"\n[[triage.rules]\nname = "x"\n')
    (problem,) = check_config(path)
    assert (problem.line, problem.key) == (3, "")
    assert problem.message.startswith("not valid TOML")


def test_missing_file(tmp_path: Path) -> None:
    assert check_config(tmp_path / "nope.toml") == [
        Problem(
            file=str(tmp_path / "nope.toml"), key="", line=None, message="cannot be read (No such file or directory)"
        )
    ]


def test_unknown_classifier(tmp_path: Path) -> None:
    (problem,) = check_config(write(tmp_path, '\n[triage]\nclassifier = "llm"\n'))
    assert (problem.line, problem.key) == (3, "triage.classifier")
    assert problem.message.startswith("no classifier named 'llm' is installed; installed: ")


# ---- the line finder ----------------------------------------------------------------------------

TRICKY = '''\
# [not.a.table] = 1
title = "a = [b] # c"
[triage]
[[triage.rules]]
name = "one"
patterns = ['a[b', "c\\\\"d", """x = [
]"""]
[[triage.rules]]
name = "two"
patterns = [
  'x',  # ] not the end
  \'\'\'multi
line\'\'\',
]
[triage.rules.meta]
owner = "db-team"
[routing]
rules = [ { name = "r", match = ['severity="low"'] }, { name = "s", cel = "a" } ]
[routing.services."pay.ments"]
limits.burst = 3
'''


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("title",), 2),
        (("triage", "rules", 0), 4),
        (("triage", "rules", 0, "patterns", 2), 6),
        (("triage", "rules", 1, "name"), 9),
        (("triage", "rules", 1, "patterns", 0), 11),
        (("triage", "rules", 1, "patterns", 1), 12),
        (("triage", "rules", 1, "meta", "owner"), 16),  # a sub-table of the second array element
        (("routing", "rules", 1, "cel"), 18),
        (("routing", "services", "pay.ments", "limits", "burst"), 20),
        (("routing", "rules", 1, "match"), 18),  # not written: its nearest written ancestor
        (("triage", "rules", 7), 4),  # an element never written: the array's first header
        (("notify", "channels"), None),  # nothing of it in the file
    ],
)
def test_key_lines(path: tuple[str | int, ...], line: int | None) -> None:
    assert line_of(key_lines(TRICKY), path) == line


def test_dotted() -> None:
    assert dotted(("routing", "services", "pay", "rules", 2, "match", 0)) == "routing.services.pay.rules[2].match[0]"
