"""Shared fixtures: the dataset, the reference topology and its trained integer model."""
from __future__ import annotations

from pathlib import Path

import pytest

from sustainml import REPO_ROOT

REFERENCE_TOPOLOGY = REPO_ROOT / "nas" / "examples" / "ecg_baseline.yaml"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cost_models(tmp_path_factory):
    """Refined cost models go to (and are read from) a test directory, never ~/.config."""
    from sustainml.nas.cost_sources import ENV_DIR

    mp = pytest.MonkeyPatch()
    mp.setenv(ENV_DIR, str(tmp_path_factory.mktemp("cost-models")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def ecg5000():
    from sustainml.nas.data import load_dataset

    return load_dataset("ECG5000")


@pytest.fixture(scope="session")
def reference_topology():
    from sustainml.nas.topology import load_topology

    return load_topology(REFERENCE_TOPOLOGY)


@pytest.fixture(scope="session")
def reference_training(reference_topology, ecg5000):
    """The reference model trained once per session (default schedule, seed 0): TrainResult."""
    from sustainml.nas.train import train

    return train(reference_topology, ecg5000)


@pytest.fixture(scope="session")
def reference_model(reference_training):
    """The trained reference QuantizedModel (integer weights, shifts, metrics)."""
    return reference_training.model


@pytest.fixture(scope="session")
def reference_model_dir(reference_model, tmp_path_factory) -> Path:
    """The reference model saved as a model directory (model.yaml + weights.npz)."""
    return reference_model.save(tmp_path_factory.mktemp("models") / "ecg_baseline")
