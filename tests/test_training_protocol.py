"""Training choices for small data: protocol by training-set size, augmentation, class weights,
everything recorded in model.yaml; same seed → the same model bit for bit; QAT export exact."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from sustainml.nas import golden
from sustainml.nas.data import load_dataset
from sustainml.nas.quantized import QuantizedModel
from sustainml.nas.search.space import Block, Genotype
from sustainml.nas.train import TrainConfig, augment, choices, class_weights, train

from two_channel_data import write_npz

QUICK = dataclasses.replace(TrainConfig.quick(), float_epochs=3, qat_epochs=2, folded_epochs=2)
GENOTYPE = Genotype((Block("Conv1D", 4, 5, 1, 2, 6, 6), Block("DepthwiseSeparableConv1D", 8, 3, 2, 0, 4, 5)), 6, 16, 8)


def _data(tmp_path):
    return load_dataset(write_npz(tmp_path / "d.npz", n_train=120, n_test=60))


def test_same_seed_same_model_bit_for_bit(tmp_path):
    data = _data(tmp_path)
    topo = GENOTYPE.topology("t", data.length, data.channels, data.classes)
    a, b = train(topo, data, QUICK), train(topo, data, QUICK)
    c = train(topo, data, dataclasses.replace(QUICK, seed=1))
    da, db = a.model.save(tmp_path / "a"), b.model.save(tmp_path / "b")
    assert (da / "weights.npz").read_bytes() == (db / "weights.npz").read_bytes()
    assert [s.to_dict() for s in a.model.stages] == [s.to_dict() for s in b.model.stages]
    assert any(not np.array_equal(a.model.weights[k], c.model.weights[k]) for k in a.model.weights)
    # the QAT export stays exact: the frozen torch net in float64 computes the golden integers
    with torch.no_grad():
        a.net.eval()
        logits, frac = a.net.double().forward_with_frac(torch.from_numpy(data.test.x).double())
    ints = golden.run(a.model, a.model.quantize_input(data.test.x))
    assert np.array_equal(np.rint(logits.numpy() * 2.0 ** frac).astype(np.int64), ints)


def test_choices_recorded_in_model_yaml(tmp_path):
    data = _data(tmp_path)
    topo = GENOTYPE.topology("t", data.length, data.channels, data.classes)
    res = train(topo, data, QUICK)
    back = QuantizedModel.load(res.model.save(tmp_path / "m"))
    t = back.metrics["training"]
    assert t["protocol"] == "fixed-schedule" and t["train_samples"] == 96 and t["val_samples"] == 24
    assert t["batches_per_epoch"] == QUICK.min_batches  # 96 samples are 3 batches: epochs are stretched
    assert t["augmentation"]["jitter_std"] == QUICK.jitter and t["class_weights"] is not None
    assert "cosine" in t["lr_schedule"] and t["preprocessing"]["method"] == "standardize"
    assert back.preprocessing == data.preprocessing
    assert back.metrics["dataset"] == str((tmp_path / "d.npz").resolve())  # generate reloads it from there


def test_protocol_follows_training_set_size(tmp_path):
    data = _data(tmp_path)
    assert choices(TrainConfig(), data)["protocol"] == "fixed-schedule"
    assert choices(TrainConfig(small_data=50), data)["protocol"] == "early-stopping"
    assert choices(TrainConfig(fidelity=0.25), data)["epochs"] == {"float": 15, "qat": 8, "qat_folded": 5}


def test_augmentation_is_seeded_and_off_when_p_is_zero():
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(16, 50, 2)).astype(np.float32))
    cfg = TrainConfig()
    a = augment(x, cfg, torch.Generator().manual_seed(3))
    b = augment(x, cfg, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    assert torch.equal(augment(x, dataclasses.replace(cfg, augment_p=0.0), torch.Generator().manual_seed(3)), x)


def test_class_weights_inverse_sqrt_frequency():
    w = class_weights(np.array([0] * 100 + [1] * 25 + [2] * 4), 4)
    assert w[3] == 0.0
    assert np.allclose(w[:3] / w[0], [1.0, 2.0, 5.0]) and np.isclose(w[:3].mean(), 1.0)
