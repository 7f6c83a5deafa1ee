"""``sustainml-deploy``: put overlays on Zynq boards over SSH, run them, fetch their results.

Boards come from the inventory (``boards.yaml``: ``--inventory`` or ``$SUSTAINML_BOARDS``; see
:mod:`sustainml.host.deploy.inventory`). Each sub-command lives in
``sustainml.host.deploy.commands.<name>`` with ``register(subparsers)``; add one by appending
its name to :data:`COMMANDS`.
"""
from __future__ import annotations

import sys
from typing import List, Optional, Sequence

from sustainml.host.cli import run

COMMANDS: List[str] = ["boards", "push", "infer", "status", "pull", "rollback", "measure"]
PACKAGE = "sustainml.host.deploy.commands"


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run(argv, "sustainml-deploy", COMMANDS, PACKAGE, description=__doc__.splitlines()[0].split(": ", 1)[1])


if __name__ == "__main__":
    sys.exit(main())
