"""FP8 training mode (nas/fp8_training.py): what is stored, what is counted, the schedule."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sustainml.nas.fp8 import Fp8Error, quantize
from sustainml.nas.fp8_storage import make_storage
from sustainml.nas.fp8_training import (CLASSES, DramEmulator, Fp8TrainConfig, Splits, dram_layers, train_in_format)
from sustainml.nas.qat import QATNet
from sustainml.nas.quantized import plan_stages


def _step(model, emu, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    emu.after_step()


def _calibrated(topology, storage_name, x, y):
    torch.manual_seed(0)
    model = QATNet(topology)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    emu = DramEmulator(model, opt, make_storage(storage_name))
    emu.mode = "calibrate"
    _step(model, emu, opt, x, y)
    emu.start_storing()
    return model, opt, emu


@pytest.fixture(scope="module")
def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(16, 140, 1, generator=gen), torch.randint(0, 5, (16,), generator=gen)


def test_every_stored_tensor_is_fp8_at_its_bias(reference_topology, batch):
    x, y = batch
    model, opt, emu = _calibrated(reference_topology, "e5m2-adaptive", x, y)
    st = emu.storage
    assert {k.split(":")[0] for k in st.biases} == set(CLASSES)
    seen = {}
    model.blocks[1].register_forward_hook(lambda m, i, o: seen.update(a=o[0].detach().clone()))
    grads = {}
    for n, p in model.named_parameters():  # registered after the emulator's hook: sees the stored gradient
        p.register_post_accumulate_grad_hook(lambda p, n=n: grads.update({n: p.grad.clone()}))
    _step(model, emu, opt, x, y)
    on_grid = lambda t, key: torch.equal(quantize(t, st.bias_for(key)), t)  # noqa: E731
    assert on_grid(seen["a"], "a:block1")
    for n, p in model.named_parameters():
        assert on_grid(p.data, f"w:{n}"), n
        assert on_grid(grads[n], f"g:{n}"), n
        assert on_grid(opt.state[p]["momentum_buffer"], f"o:{n}:momentum_buffer"), n
    # gradients are tiny: the adaptive biases sit far above 15 for them
    assert min(b for k, b in st.biases.items() if k.startswith("g:blocks.6")) > 15


def test_traffic_counts_and_fp8_is_a_quarter_of_fp32(reference_topology, batch):
    x, y = batch
    per = {}
    for name in ("fp32", "e5m2-adaptive", "bf16"):
        model, opt, emu = _calibrated(reference_topology, name, x, y)
        emu.mode = "store"
        _step(model, emu, opt, x, y)
        per[name] = emu.bytes_per_step()
    # layer outputs written once per step: input + every block output, counted independently here
    block_out = [len(x) * s.out_len * s.out_ch for s in plan_stages(reference_topology)]
    assert per["fp32"]["a"][1] == 4 * (x.numel() + sum(block_out))
    params = sum(p.numel() for p in model.parameters())
    assert per["fp32"]["w"] == (3 * 4 * params, 4 * params)
    for c, (r, w) in per["fp32"].items():
        assert per["e5m2-adaptive"][c] == (r / 4, w / 4), c
        assert per["bf16"][c] == (r / 2, w / 2), c
    assert set(per["fp32"]) == set(CLASSES)


def test_fixed_bias_15_flushes_small_gradients_adaptive_keeps_them():
    g = torch.full((100,), 2.0 ** -20)
    fixed = make_storage("e5m2-b15")
    adaptive = make_storage("e5m2-adaptive")
    adaptive.observe(g, "g:w")
    adaptive.calibrate()
    assert adaptive.biases["g:w"] == 31
    assert not fixed.roundtrip(g, "g:w").any()
    assert torch.equal(adaptive.roundtrip(g, "g:w"), g)


def test_stored_classes_select_what_is_quantized(reference_topology, batch):
    x, y = batch
    torch.manual_seed(0)
    model = QATNet(reference_topology)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    emu = DramEmulator(model, opt, make_storage("e5m2-b15"), stored=("a",))
    emu.start_storing()
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert all(torch.equal(w0[n], p) for n, p in model.named_parameters())  # weights untouched
    _step(model, emu, opt, x, y)
    traffic = emu.bytes_per_step()
    params = sum(p.numel() for p in model.parameters())
    assert traffic["w"] == (3 * 4 * params, 4 * params)  # FP32 weights still cost 4 bytes
    with pytest.raises(Fp8Error, match="stored classes"):
        DramEmulator(model, opt, make_storage("fp32"), stored=("x",))


def test_training_runs_and_image_models_hook_in():
    gen = torch.Generator().manual_seed(0)
    imgs = torch.randn(64, 3, 8, 8, generator=gen)
    labels = (imgs.mean((1, 2, 3)) > 0).long()
    ds = torch.utils.data.TensorDataset(imgs, labels)
    data = Splits.from_torch_datasets(ds, ds, "toy-images")
    make = lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # noqa: E731
                                 nn.Linear(4, 2))
    assert [n for n, _ in dram_layers(make())] == ["0", "1", "2", "3", "4"]
    cfg = Fp8TrainConfig(epochs=2, warmup_epochs=1, batch_size=16, lr=0.05)
    res = train_in_format(make, data, "e5m2-adaptive", cfg)
    assert 0.0 <= res.test_acc <= 1.0 and res.nonfinite_steps == 0
    assert {k.split(":")[0] for k in res.biases} >= {"w", "g", "a", "d", "o"}
    fp32 = train_in_format(make, data, "fp32", cfg)
    assert res.total_bytes == pytest.approx(fp32.total_bytes / 4)
    with pytest.raises(Fp8Error, match="warmup_epochs"):
        train_in_format(make, data, "fp32", Fp8TrainConfig(epochs=2, warmup_epochs=2))
    with pytest.raises(Fp8Error, match="unknown storage format"):
        make_storage("fp7")


def test_fp8_bench_command_prints_the_table(tmp_path, capsys):
    from sustainml.host.cli import main

    out = tmp_path / "fp8.md"
    rc = main(["fp8-bench", "--custom", "nas/examples/ecg_baseline.yaml", "ECG200", "--epochs", "2", "--warmup-epochs", "1",
               "--format", "e5m2-adaptive", "--format", "e5m2-b15", "--jobs", "1", "--out", str(out)])
    assert rc == 0
    rows = [ln for ln in out.read_text().splitlines() if ln.startswith("| ecg_baseline/ECG200")]
    assert [r.split("|")[2].strip() for r in rows] == ["fp32", "e5m2-adaptive", "e5m2-b15"]
    assert all(r.split("|")[6].strip() == "0.250" for r in rows[1:])  # x FP32 bytes
    assert main(["fp8-bench", "--epochs", "1", "--warmup-epochs", "1"]) == 2
    assert "must exceed --warmup-epochs" in capsys.readouterr().err
