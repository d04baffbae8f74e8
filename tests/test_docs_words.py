"""What the README promises about running its commands, checked against the text itself."""

from __future__ import annotations

from tests.conftest import REPO_ROOT


def test_the_inspector_command_says_which_node_it_needs() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    command = text.index("npx -y @modelcontextprotocol/inspector@0.18.0")
    before = text[max(0, command - 400) : command]
    assert "Node.js 22 or later" in before and "Node 20" in before


def test_no_merge_conflict_is_left_in_the_guides() -> None:
    # Regression: a conflict's markers once stood in the README's route table, halving it.
    guides = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    for guide in guides:
        lines = guide.read_text().splitlines()
        assert not [n for n, line in enumerate(lines, 1) if line.startswith(("<<<<<<< ", ">>>>>>> ", "======="))], guide
