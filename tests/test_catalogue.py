"""Board catalogue: data-sheet facts, PS types, the unknown-board error."""
from __future__ import annotations

import pytest
import yaml

from sustainml import REPO_ROOT
from sustainml.host.cli import main
from sustainml.nas.catalogue import UnknownBoardError, boards, get_board

# Vendor data sheets: DS190 (Zynq-7000 product table), DS891 (Zynq UltraScale+ MPSoC), DS987 (K26 SOM).
DATASHEET = {
    "pynq-z1": ("xc7z020clg400-1", {"lut": 53200, "ff": 106400, "bram36": 140, "uram": 0, "dsp": 220}),
    "pynq-z2": ("xc7z020clg400-1", {"lut": 53200, "ff": 106400, "bram36": 140, "uram": 0, "dsp": 220}),
    "zcu104": ("xczu7ev-ffvc1156-2-e", {"lut": 230400, "ff": 460800, "bram36": 312, "uram": 96, "dsp": 1728}),
    "ultra96v2": ("xczu3eg-sbva484-1-i", {"lut": 70560, "ff": 141120, "bram36": 216, "uram": 0, "dsp": 360}),
    "kv260": ("xck26-sfvc784-2LV-c", {"lut": 117120, "ff": 234240, "bram36": 144, "uram": 64, "dsp": 1248}),
}


@pytest.mark.parametrize("name", sorted(DATASHEET))
def test_catalogue_matches_datasheets(name):
    b = get_board(name)
    part, res = DATASHEET[name]
    assert b.part == part
    assert b.budget == res
    assert b.ps == ("ps7" if part.startswith("xc7z") else "ps8")
    assert b.clock_mhz > 0 and b.hp_port_bits in (64, 128)
    assert b.has_rails == (b.ps == "ps8")  # PYNQ-Z1/Z2 expose no readable rails


def test_catalogue_agrees_with_board_runtime_table():
    runtime = yaml.safe_load((REPO_ROOT / "board" / "boards.yaml").read_text())
    for name in boards():
        assert runtime[name]["part"] == get_board(name).part
        assert runtime[name]["ps"] == get_board(name).ps


def test_unknown_board_lists_known_ones(capsys):
    with pytest.raises(UnknownBoardError) as err:
        get_board("zedboard")
    assert "zedboard" in str(err.value) and all(n in str(err.value) for n in DATASHEET)
    assert main(["generate", "nowhere", "--board", "zedboard", "--out", "x"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "unknown board 'zedboard'" in lines[0] and "pynq-z2" in lines[0]
