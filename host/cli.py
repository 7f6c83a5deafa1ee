"""``sustainml``: the host-side workflows of the HALF flow, one sub-command per stage.

Each sub-command lives in ``sustainml.host.commands.<name>`` and exposes
``register(subparsers)`` which adds its parser and sets ``func(args) -> int``.
User-facing errors (subclasses of :class:`sustainml.errors.SustainmlError`) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional, Sequence

from sustainml.errors import SustainmlError

DESCRIPTION = "sustainml: the host-side workflows of the HALF flow, one sub-command per stage."

#: Stage commands in flow order (module names under sustainml.host.commands).
COMMANDS: List[str] = ["flow", "train", "search", "generate", "build", "synth", "refine", "report", "fp8_bench",
                       "export", "import_model"]


def build_parser(prog: str = "sustainml", commands: Sequence[str] = COMMANDS, package: str = "sustainml.host.commands",
                 description: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description or DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in commands:
        importlib.import_module(f"{package}.{name}").register(sub)
    return parser


def run(argv: Optional[Sequence[str]], prog: str, commands: Sequence[str], package: str = "sustainml.host.commands",
        description: Optional[str] = None) -> int:
    parser = build_parser(prog, commands, package, description)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SustainmlError, FileNotFoundError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run(argv, "sustainml", COMMANDS)


if __name__ == "__main__":
    sys.exit(main())
