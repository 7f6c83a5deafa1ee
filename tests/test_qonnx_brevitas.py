"""A network trained with Brevitas enters the flow through QONNX: exported by Brevitas,
imported, generated and C-simulated, its integer logits equal what qonnx executes."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
qnn = pytest.importorskip("brevitas.nn")
pytest.importorskip("qonnx")


def _net(classes: int) -> "torch.nn.Module":
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int16Bias, \
        Uint8ActPerTensorFixedPoint

    w = dict(weight_quant=Int8WeightPerTensorFixedPoint, bias_quant=Int16Bias, return_quant_tensor=True)
    relu = dict(act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=True)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
            self.c1, self.r1 = qnn.QuantConv1d(1, 4, 5, padding=2, **w), qnn.QuantReLU(**relu)
            self.c2, self.r2 = qnn.QuantConv1d(4, 8, 3, padding=1, **w), qnn.QuantReLU(**relu)
            self.pool1, self.pool2 = torch.nn.MaxPool1d(4), torch.nn.MaxPool1d(5)
            self.fc = qnn.QuantLinear(8 * 7, classes, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                      bias_quant=Int16Bias, output_quant=Int8ActPerTensorFixedPoint)

        def forward(self, x):
            x = self.pool1(self.r1(self.c1(self.inp(x))))
            x = self.pool2(self.r2(self.c2(x)))
            return self.fc(x.flatten(1))

    return Net()


def test_brevitas_model_generates_and_csimulates_to_qonnx_logits(tmp_path, ecg5000):
    import onnx
    from brevitas.export import export_qonnx

    from sustainml.host.generate import generate
    from sustainml.host.hlsgen import csim
    from sustainml.nas import golden
    from sustainml.nas.interchange import qonnx_export
    from sustainml.nas.quantized import QuantizedModel

    torch.manual_seed(0)
    net = _net(ecg5000.classes)
    x = torch.tensor(ecg5000.train.x, dtype=torch.float32).permute(0, 2, 1)
    y = torch.tensor(ecg5000.train.y)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(3):  # a few epochs: the point is a real trained network, not its accuracy
        for i in range(0, len(x), 32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[i:i + 32]), y[i:i + 32]).backward()
            opt.step()
    net.eval()
    path = tmp_path / "brevitas.onnx"
    export_qonnx(net, input_t=x[:1], export_path=str(path))

    out = subprocess.run([sys.executable, "-m", "sustainml.host.cli", "import", str(path), "--out",
                          str(tmp_path / "model"), "--dataset", "ECG5000"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    model = QuantizedModel.load(tmp_path / "model")
    assert [s.kind for s in model.stages] == ["conv1d", "maxpool1d", "conv1d", "maxpool1d", "dense"]

    gen = generate(tmp_path / "model", tmp_path / "build", board="pynq-z2")
    lib = csim.compile_dnnu(gen.model)
    xi = model.quantize_input(ecg5000.test.x[:300])
    hw = csim.run_dnnu(lib, gen.model, xi)
    assert np.array_equal(hw, golden.run(model, xi))

    proto = onnx.load(str(path))  # Brevitas exports a batch of one: qonnx runs sample by sample
    out_frac = model.stages[-1].out_frac
    ref = np.concatenate([qonnx_export.execute(proto, xi[i:i + 1], model.input_frac, out_frac) for i in range(24)])
    assert np.array_equal(hw[:24], ref)
    with torch.no_grad():  # and qonnx agrees with Brevitas itself
        tb = net(torch.tensor(ecg5000.test.x[:24], dtype=torch.float32).permute(0, 2, 1)).numpy()
    assert np.array_equal(np.rint(tb * 2.0 ** out_frac).astype(np.int64), ref)
    assert (hw.argmax(axis=1) == ecg5000.test.y[:300]).mean() > 0.6  # it learned something
