"""`healer doctor`: check the configuration, repositories, test commands, GitHub token, sandbox and database."""

from __future__ import annotations

import argparse
import sys

from server.commands.common import load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    from server.commands import doctor_checks as doctor

    del args
    settings, config = load()  # a configuration that does not load ends here, naming file, key and line
    out = sys.stdout
    out.write(f"ok    configuration: {settings.config_path}\n")
    findings = doctor.everything(config, settings)
    for finding in findings:
        out.write(f"{'ok' if finding.ok else 'FAIL':<5} {finding.check}: {finding.message}\n")
    failed = sum(not finding.ok for finding in findings)
    out.write(f"{failed} problem(s) found\n" if failed else "everything checked is in order\n")
    return 1 if failed else 0
