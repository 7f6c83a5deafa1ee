"""Training choices for small data: protocol by training-set size, augmentation, class weights,
everything recorded in model.yaml; same seed → the same model bit for bit; QAT export exact."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sustainml.nas import golden
from sustainml.nas.data import load_dataset
from sustainml.nas.qat import QATNet
from sustainml.nas.quantized import QuantizedModel
from sustainml.nas.search.select import nothing_held_out
from sustainml.nas.search.space import Block, Genotype
from sustainml.nas.train import AUTO_SMALL, Ema, TrainConfig, augment, choices, class_weights, train

from two_channel_data import write_npz

QUICK = dataclasses.replace(TrainConfig.quick(), float_epochs=3, qat_epochs=2, folded_epochs=2)
GENOTYPE = Genotype((Block("Conv1D", 4, 5, 1, 2, 6, 6), Block("DepthwiseSeparableConv1D", 8, 3, 2, 0, 4, 5)), 6, 16, 8)


def _data(tmp_path):
    return load_dataset(write_npz(tmp_path / "d.npz", n_train=120, n_test=60))


@pytest.mark.parametrize("cfg", [QUICK, dataclasses.replace(QUICK, mixup=0.2, small_data=50)],
                         ids=["small-data-auto-ema-ls", "early-stopping-mixup"])
def test_same_seed_same_model_bit_for_bit(tmp_path, cfg):
    data = _data(tmp_path)
    topo = GENOTYPE.topology("t", data.length, data.channels, data.classes)
    a, b = train(topo, data, cfg), train(topo, data, cfg)
    c = train(topo, data, dataclasses.replace(cfg, seed=1))
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
    r = t["regularization"]  # 96 < small_data: weight averaging and label smoothing chosen automatically
    assert (r["weight_ema"], r["label_smoothing"], r["mixup_alpha"]) == (AUTO_SMALL["ema"],
                                                                          AUTO_SMALL["label_smoothing"], None)
    assert "96 < small_data=300" in r["auto"]
    assert set(back.metrics["phase_test_acc"]) == {"float", "qat", "qat_folded"}
    assert back.preprocessing == data.preprocessing
    assert back.metrics["dataset"] == str((tmp_path / "d.npz").resolve())  # generate reloads it from there


def test_protocol_follows_training_set_size(tmp_path):
    data = _data(tmp_path)
    assert choices(TrainConfig(), data)["protocol"] == "fixed-schedule"
    assert choices(TrainConfig(small_data=50), data)["protocol"] == "early-stopping"
    assert choices(TrainConfig(fidelity=0.25), data)["epochs"] == {"float": 15, "qat": 8, "qat_folded": 5}
    big = choices(TrainConfig(small_data=50), data)["regularization"]  # early stopping: no averaging, no smoothing
    assert big["weight_ema"] is None and big["label_smoothing"] is None and ">= small_data=50" in big["auto"]
    refit = nothing_held_out(data)
    whole = choices(TrainConfig(small_data=50), refit)
    assert whole["protocol"] == "fixed-schedule"  # a refit at >= small_data: the average stands in for the best epoch
    assert "nothing held out" in whole["protocol_reason"] and "weight average" in whole["protocol_reason"]
    reg = whole["regularization"]
    assert reg["weight_ema"] == AUTO_SMALL["ema"] and reg["label_smoothing"] is None
    assert whole["class_weights"] is None and "unweighted" in whole["class_weights_reason"]  # plain accuracy is scored
    assert choices(TrainConfig(), data)["class_weights"] is not None  # 96 < 300: a rare class keeps its weight
    assert choices(TrainConfig(class_balance=True), refit)["class_weights_reason"] is None  # set, not chosen
    given = choices(TrainConfig(small_data=50, ema=0.9, label_smoothing=0.05), data)["regularization"]
    assert (given["weight_ema"], given["label_smoothing"], given["auto"]) == (0.9, 0.05, None)


def test_weight_average_follows_the_warmed_up_decay_and_swaps():
    torch.manual_seed(0)
    net = QATNet(GENOTYPE.topology("t", 32, 2, 3))
    start = {k: v.clone() for k, v in net.state_dict().items()}
    ema = Ema(net, 0.99)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    ema.update(net)  # step 1: decay min(0.99, 2/11)
    d = 2 / 11
    w = "blocks.0.weight"
    assert torch.allclose(ema.state[w], d * start[w] + (1 - d) * (start[w] + 1.0))
    live = net.state_dict()[w].clone()
    ema.swap(net)
    assert torch.allclose(net.state_dict()[w], d * start[w] + (1 - d) * live) and torch.equal(ema.state[w], live)


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
