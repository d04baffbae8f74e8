"""`healer deny <incident> --as LOGIN`: deny what waits for you, as a verified person; the incident goes to humans."""

from __future__ import annotations

import argparse

from server.commands.approve import add_arguments as add_arguments
from server.commands.approve import answer


def run(args: argparse.Namespace) -> int:
    return answer(args, approve=False)
