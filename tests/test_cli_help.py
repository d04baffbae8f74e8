"""Every `healer` option and positional, at every level of subcommands, says what it is in --help."""

from __future__ import annotations

import argparse

from server.cli import build_parser


def undocumented(parser: argparse.ArgumentParser, path: str = "healer") -> list[str]:
    missing = []
    for action in parser._actions:  # argparse keeps no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not helps.get(name):
                    missing.append(f"{path} {name}")
                missing += undocumented(sub, f"{path} {name}")
        elif not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_option_positional_and_subcommand_has_a_description() -> None:
    assert undocumented(build_parser()) == []
