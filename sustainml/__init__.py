"""sustainml: the HALF flow from a 1D-signal dataset to a measured Zynq accelerator.

Sub-packages map the repository's folders: ``sustainml.nas`` (nas/), ``sustainml.host``
(host/) and ``sustainml.board`` (board/).
"""
from pathlib import Path

__version__ = "0.1.0"

#: Repository root when installed editable (hls/, overlays/ live there).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: ``pytest -p sustainml`` loads the board-test plugin (normally loaded by its pytest11 entry point).
pytest_plugins = ["sustainml.pytest_plugin"]
