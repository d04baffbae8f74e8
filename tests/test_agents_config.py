"""[agents.<name>] and [dispatch]: the shape the issue documents, and errors that name the key."""

from __future__ import annotations

import tomllib

import pytest

from server.agents.config import load_agents
from server.agents.outcomes import RunStatus, decide
from server.agents.prompt import mcp_config
from server.agents.supervise import Capture
from server.config import parse_config
from server.errors import ConfigError

DOCUMENTED = """
[agents.claude]
command = ["claude", "-p", "{prompt}", "--mcp-config", "{mcp_config}",
           "--allowedTools", "mcp__healer", "--output-format", "stream-json", "--verbose"]
timeout_minutes = 20
max_concurrent = 2
env = { ANTHROPIC_API_KEY = "env:ANTHROPIC_API_KEY" }

[dispatch]
agent = "claude"
auto = true
max_runs_per_incident = 3
max_runs_per_hour = 20
review_rounds = 2
"""


def _load(text: str, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return load_agents(parse_config(tomllib.loads(text)), environ or {})


def test_the_documented_example_loads() -> None:
    agents = _load(DOCUMENTED, {"ANTHROPIC_API_KEY": "sk-ant-123456"})
    claude = agents.agent("claude")
    assert claude.timeout_seconds == 1200 and claude.max_concurrent == 2
    assert claude.env["ANTHROPIC_API_KEY"].get_secret_value() == "sk-ant-123456"
    assert "sk-ant" not in repr(claude)  # a secret, never printed
    assert (agents.dispatch.auto, agents.dispatch.max_runs_per_hour, agents.dispatch.review_rounds) == (True, 20, 2)
    assert agents.choose(service="payments", category=None).name == "claude"


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        # A placeholder the runner does not fill in.
        ('[agents.a]\ncommand = ["x", "{promt}"]\n', "agents.a.command", "unknown placeholder {promt}"),
        # No command at all.
        ("[agents.a]\ntimeout_minutes = 5\n", "agents.a.command", "missing"),
        # A key that does not exist.
        ('[agents.a]\ncommand = ["x"]\ntimeout = 5\n', "agents.a.timeout", "unknown key"),
        # env:NAME whose variable is not set.
        ('[agents.a]\ncommand = ["x"]\nenv = { K = "env:NOPE" }\n', "agents.a.env.K", "NOPE is not set"),
        # PATH and HOME are the runner's to set.
        ('[agents.a]\ncommand = ["x"]\nenv = { HOME = "/root" }\n', "agents.a.env", "set by the runner"),
        # The default agent must exist.
        ('[agents.a]\ncommand = ["x"]\n[dispatch]\nagent = "b"\n', "dispatch.agent", "no agent named 'b'"),
        # A rule naming an agent that does not exist.
        ('[agents.a]\ncommand = ["x"]\n[dispatch.by_service]\npay = "c"\n', "dispatch.by_service.pay", "'c'"),
        # auto without any agent.
        ("[dispatch]\nauto = true\n", "dispatch.auto", "needs at least one"),
        # A budget of zero runs.
        ('[agents.a]\ncommand = ["x"]\n[dispatch]\nmax_runs_per_hour = 0\n', "dispatch.max_runs_per_hour", ""),
    ],
)
def test_mistakes_are_named_by_their_key(text: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(text)
    assert caught.value.key == key, caught.value.message
    assert says in caught.value.message


def test_rules_name_an_agent_per_service_or_category() -> None:
    agents = _load(
        '[agents.a]\ncommand = ["x"]\n[agents.b]\ncommand = ["y"]\n[agents.c]\ncommand = ["z"]\n'
        '[dispatch]\nagent = "a"\nby_service = { pay = "b" }\nby_category = { database = "c" }\n'
    )
    assert agents.choose(service="pay", category="database").name == "b"
    assert agents.choose(service="shop", category="database").name == "c"
    assert agents.choose(service="shop", category="network").name == "a"
    assert agents.choose(service="shop", category=None, asked="c").name == "c"


def test_the_mcp_config_has_the_shape_agent_clis_read() -> None:
    agents = _load('[agents.h]\ncommand = ["x"]\n[agents.s]\ncommand = ["y"]\nmcp_transport = "stdio"\n')
    http = mcp_config(agents.agent("h"), url="http://127.0.0.1:8080/mcp", token="hrt_abc")
    assert http == {
        "mcpServers": {
            "healer": {
                "type": "http",
                "url": "http://127.0.0.1:8080/mcp",
                "headers": {"Authorization": "Bearer hrt_abc"},
            }
        }
    }
    stdio = mcp_config(agents.agent("s"), url="http://127.0.0.1:8080/mcp", token="hrt_abc")
    entry = stdio["mcpServers"]["healer"]  # type: ignore[index]
    assert entry["args"][-3:] == ["mcp", "--connect", "http://127.0.0.1:8080/mcp"]
    assert entry["env"] == {"HEALER_RUN_TOKEN": "hrt_abc"}


@pytest.mark.parametrize(
    ("did", "expected"),
    [
        ({"pushed": True, "timed_out": True}, RunStatus.fixed),  # a PR is a fix, however the process ended
        ({"reported": True, "exit_code": 1}, RunStatus.reported),
        ({"cancelled": True}, RunStatus.cancelled),
        ({"timed_out": True, "exit_code": -15}, RunStatus.timed_out),
        ({"exit_code": 3}, RunStatus.crashed),
        ({"lost": True}, RunStatus.crashed),  # the server running it stopped
        ({"exit_code": 0}, RunStatus.no_result),
    ],
)
def test_a_runs_outcome(did: dict[str, object], expected: RunStatus) -> None:
    facts: dict[str, object] = {"pushed": False, "reported": False, "cancelled": False, "timed_out": False}
    facts.setdefault("exit_code", None)
    facts.update(did)
    assert decide(**facts) == expected  # type: ignore[arg-type]


def test_capture_keeps_head_and_tail_and_redacts() -> None:
    capture = Capture(100)
    capture.add(b"token hrt_secret ghp_" + b"a" * 36 + b" ")
    capture.add(b"x" * 10_000)
    capture.add(b" the end")
    text = capture.text(["hrt_secret"])
    assert capture.total == 10_000 + 21 + 36 + 1 + 8
    # The cut falls inside the GitHub token: it is recognised whole before the cut, never shown in part.
    assert text.startswith("token [REDACTED:run-secret] [REDACTED:") and "ghp_" not in text
    assert text.endswith(" the end") and "bytes of output omitted" in text
    assert len(text) < 200
