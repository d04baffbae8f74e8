"""The default deny list, as a table: what CI runs, git's in-tree settings and review settings are
refused; ordinary source files (and look-alikes of the denied names) are not."""

from __future__ import annotations

import pytest

from fixer.models import PolicyConfig
from fixer.policy import denied_by

DENIED = [
    ".github/workflows/ci.yml",
    ".GitHub/Workflows/CI.yml",  # another case spelling: the same folder on a case-insensitive checkout
    ".github/actions/setup/action.yml",  # a composite action that workflows run
    ".github/actions/setup/scripts/install.sh",  # and the script it calls
    "tools/release/action.yml",  # a local action anywhere (`uses: ./tools/release`)
    "action.yaml",
    ".gitmodules",  # where submodules are fetched from
    ".gitattributes",  # filter and diff drivers
    "vendor/.gitattributes",  # nested attributes apply too
    ".lfsconfig",  # the LFS endpoint
    ".gitlab-ci.yml",
    ".gitlab/ci/deploy.yml",
    ".circleci/config.yml",
    "Jenkinsfile",
    ".travis.yml",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".buildkite/pipeline.yml",
    ".drone.yml",
    ".woodpecker/build.yml",
    ".pre-commit-config.yaml",
    ".husky/pre-commit",
    ".devcontainer/devcontainer.json",
    "certs/server.pem",
    "config/.env.production",
    ".coderabbit.yaml",
    ".github/CODEOWNERS",
]
ALLOWED = [
    "app/calc.py",
    ".git-blame-ignore-revs",  # read by people's `git blame`, runs nothing
    ".github/ISSUE_TEMPLATE/bug.md",
    ".github/pull_request_template.md",
    "docs/actions.md",
    "src/actions/workflow.py",  # "actions" and "workflows" as ordinary names outside .github
    "app/gitattributes.py",
    "README.md",
]


@pytest.mark.parametrize("path", DENIED)
def test_denied_by_default(path: str) -> None:
    assert denied_by(path, PolicyConfig().deny_globs) is not None


@pytest.mark.parametrize("path", ALLOWED)
def test_allowed_by_default(path: str) -> None:
    assert denied_by(path, PolicyConfig().deny_globs) is None
