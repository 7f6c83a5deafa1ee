"""sustainml.board: the on-board runtime (bundle verification, DNNU driver, benchmark, power)
and the simulated board. Imports only the standard library, numpy, pyyaml and pynq; runs on the
PYNQ images' Python 3.8+. Modules: :mod:`.bundle`, :mod:`.dnnu`, :mod:`.control`, :mod:`.bench`,
:mod:`.power`, :mod:`.identity`, :mod:`.sim`."""
