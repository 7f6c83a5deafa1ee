"""Testing support shipped with sustainml: the on-board battery and its host-side helpers.

:mod:`sustainml.testing.test_board_battery` is a pytest module (run it through the plugin,
:mod:`sustainml.pytest_plugin`); :mod:`sustainml.testing.onboard` drives one board for it.
"""
