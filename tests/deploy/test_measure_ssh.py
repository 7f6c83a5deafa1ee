"""``sustainml-deploy measure`` over SSH: an inventory board (loopback sshd, simulated PL) measured in
parallel with a local simulated board; the overlay (rtlsim: a circuit, so energy is measured) is
pushed once and measured where it is active."""
from __future__ import annotations

import sqlite3

import yaml

from sustainml.host.deploy.fleet import session
from sustainml.host.deploy.inventory import load_inventory
from sustainml.host.deploy_cli import main
from sustainml.board.measure import manifest_digest


def test_campaign_over_ssh_pushes_once_and_measures_with_provenance(make_inventory, rtl_bundle, runtime_wheel,
                                                                     tmp_path, capsys):
    inv_path = make_inventory()
    camp = tmp_path / "camp.yaml"
    camp.write_text(yaml.safe_dump({
        "name": "ssh", "inventory": str(inv_path), "boards": ["sim-a", "sim:pynq-z2"], "overlays": [str(rtl_bundle)],
        "batches": [1, 4], "calls": 10, "repetitions": 1, "warmup": 1,
        "power": {"interval_s": 0.004, "idle_s": 0.05, "meter": "sim"}}))
    args = ["measure", str(camp), "--runtime-wheel", str(runtime_wheel.path)]
    assert main(args) == 0, capsys.readouterr().err
    con = sqlite3.connect(str(tmp_path / "measurements.sqlite"))
    rows = con.execute("SELECT board, batch, part, pynq_version, clock_mhz, power_source, energy_j, bundle_hash "
                       "FROM measurements ORDER BY board, batch").fetchall()
    digest = manifest_digest(str(rtl_bundle))
    assert [(r[0], r[1]) for r in rows] == [("sim-a", 1), ("sim-a", 4), ("sim:pynq-z2", 1), ("sim:pynq-z2", 4)]
    for board, batch, part, pynq, clock, source, energy, h in rows:
        assert part == "xc7z020clg400-1" and pynq == "4.0.0" and clock > 0 and h == digest
        assert source == "meter" and energy > 0
    inv = load_inventory(inv_path)
    with session(inv.boards["sim-a"], inv.known_hosts) as remote:
        info = remote.info()
    assert info["active"]["digest"] == digest  # pushed and activated on the board
    released = info["active"]["release"]
    # a second campaign into another DB: the overlay is already active, so nothing is pushed again
    camp2 = tmp_path / "camp2.yaml"
    camp2.write_text(camp.read_text().replace("name: ssh", "name: ssh2\ndb: again.sqlite"))
    assert main(["measure", str(camp2), "--runtime-wheel", str(runtime_wheel.path)]) == 0
    with session(inv.boards["sim-a"], inv.known_hosts) as remote:
        assert remote.info()["active"]["release"] == released
    assert sqlite3.connect(str(tmp_path / "again.sqlite")).execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 4
