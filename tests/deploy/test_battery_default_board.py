"""The on-board battery (sustainml.testing.test_board_battery) in the default run: against the loopback
sim board sim-a (``sustainml_default_board`` in conftest.py). With ``--board NAME`` the plugin
runs the battery from its own module instead, on that board."""
from sustainml.testing.test_board_battery import *  # noqa: F401,F403 - pytest collects the battery's tests here
