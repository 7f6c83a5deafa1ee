"""The reference ECG5000 model on the simulated board: exactly the golden model's outputs."""
from __future__ import annotations

import numpy as np
import pytest

from sustainml.board import sim
from sustainml.board.dnnu import Dnnu

from sim_bundles import model_sim_bundle


@pytest.fixture(scope="module")
def reference_sim_bundle(reference_model, ecg5000, tmp_path_factory):
    """The reference model's sim bundle: its HLS C-simulation library behind the DNNU's registers."""
    return model_sim_bundle(tmp_path_factory.mktemp("overlays") / "ecg_baseline", reference_model,
                            ecg5000.test.x[:16])


def test_reference_bundle_on_the_sim_board_equals_the_golden_model(reference_sim_bundle, reference_model, ecg5000):
    from sustainml.nas import golden

    sim.activate("pynq-z2")
    try:
        dnnu = Dnnu.load(reference_sim_bundle, max_batch=512)
        assert dnnu.smoke_test()["ok"]
        x = ecg5000.test.x  # all 4500 float test samples; quantized on the (simulated) PS
        res = dnnu.predict(x)
        want = golden.run(reference_model, reference_model.quantize_input(x))
        np.testing.assert_array_equal(res.logits, want)
        np.testing.assert_array_equal(res.classes, want.argmax(axis=1))
        assert len(res.timings) == -(-len(x) // 512)
    finally:
        sim.deactivate()
