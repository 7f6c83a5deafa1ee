"""Power during a benchmark: PMBus rails through ``pynq.pmbus.DataRecorder``, or an external meter.

Sources, in order: the device's rails (``pynq.pmbus.get_rails()`` on ZCU104/ZCU102/Ultra96,
simulated rails on a simulated board that has them), then any external meters plugged in
(:class:`PowerMeter`: anything with ``name`` and ``read_watts()``, e.g. a USB power meter
read over serial). Boards without rails (PYNQ-Z1/Z2) and no meter get a report that says so.

All sources are sampled by one ``DataRecorder`` together with the device clock, so energy is
integrated on the same clock as the latency: each reading counts as the average power since the
previous reading (what averaging monitors such as the INA226 report). The recording has an idle
phase (``idle_s``, DNNU not running) and a busy phase (the benchmark); energy per inference is
``(P_busy - P_idle) * T_busy / inferences``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

try:  # Python 3.8+: typing.Protocol
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore


class PowerMeter(Protocol):
    """An external power meter (whole-board power in watts)."""

    name: str

    def read_watts(self) -> float: ...


class _MeterSensor:
    """Adapts a :class:`PowerMeter` to pynq's sensor interface (name, parents, get_value)."""

    def __init__(self, meter: PowerMeter) -> None:
        self.meter, self.name, self.parents = meter, f"{meter.name}_power", ()

    def get_value(self, parents: Sequence[float] = ()) -> float:
        return float(self.meter.read_watts())


class _ClockSensor:
    name, parents = "device_clock_s", ()

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock

    def get_value(self, parents: Sequence[float] = ()) -> float:
        return self.clock() * 1e-9


@dataclass
class PowerReport:
    source: str                       # rails | meter | none
    simulated: bool
    note: str = ""
    rails: Dict[str, Dict[str, float]] = field(default_factory=dict)   # name -> idle_w, busy_w
    idle_w: Optional[float] = None
    busy_w: Optional[float] = None
    energy_per_inference_j: Optional[float] = None
    busy_s: Optional[float] = None
    samples: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def device_rails(device: Any) -> Dict[str, Any]:
    """Rails of ``device``: its own (simulated device) or pynq.pmbus's (a board with PMBus)."""
    if hasattr(device, "get_rails"):
        return device.get_rails()
    try:
        from pynq import pmbus

        return pmbus.get_rails()
    except Exception:  # noqa: BLE001 - no libsensors on this image: no rails
        return {}


class PowerMonitor:
    """Records power around a workload (see module docstring)."""

    def __init__(self, device: Any, meters: Sequence[PowerMeter] = (), interval_s: float = 0.005,
                 idle_s: float = 0.25, clock: Optional[Callable[[], int]] = None) -> None:
        self.device = device
        self.meters = list(meters)
        self.interval_s, self.idle_s = interval_s, idle_s
        self.clock = clock or getattr(device, "perf_counter_ns", time.perf_counter_ns)
        self.rails = {n: r for n, r in device_rails(device).items() if getattr(r, "power", None) is not None}
        self.simulated = bool(getattr(device, "simulated", False))

    @property
    def source(self) -> str:
        return "rails" if self.rails else "meter" if self.meters else "none"

    def measure(self, workload: Callable[[], int]) -> PowerReport:
        """Run ``workload`` (returns the number of inferences) while recording power."""
        if self.source == "none":
            board = getattr(getattr(self.device, "board", None), "name", None) or "this board"
            workload()
            return PowerReport("none", self.simulated, note=f"{board} has no readable power rails; "
                               "plug in an external meter (sustainml.board.power.PowerMeter) to measure power")
        from pynq.pmbus import DataRecorder

        sensors: List[Any] = [_ClockSensor(self.clock)]
        names: List[str] = []
        for name, rail in sorted(self.rails.items()):
            sensors.append(rail.power)
            names.append(name)
        for m in self.meters:
            sensors.append(_MeterSensor(m))
            names.append(m.name)
        rec = DataRecorder(*sensors)
        with rec.record(self.interval_s):
            time.sleep(self.idle_s)
            rec.mark()
            n = int(workload())
            time.sleep(2 * self.interval_s)  # let the recorder take the busy phase's last reading
            rec.mark()
        frame = rec.frame
        return self._report(frame["Mark"].to_numpy(), frame.iloc[:, 1].to_numpy(np.float64),
                            [frame[s.name].to_numpy(np.float64) for s in sensors[1:]], names, n)

    def _report(self, mark: np.ndarray, t: np.ndarray, values: List[np.ndarray], names: List[str],
                n: int) -> PowerReport:
        dt = np.diff(t, prepend=t[0])  # each reading covers the time since the previous one
        idle, busy = mark == 0, mark == 1
        t_idle, t_busy = float(dt[idle].sum()), float(dt[busy].sum())
        if t_idle <= 0 or t_busy <= 0:
            return PowerReport(self.source, self.simulated, note="run too short for the sampling interval "
                               f"({self.interval_s:g} s); increase n", samples=len(t))
        rails = {nm: {"idle_w": float((v * dt)[idle].sum() / t_idle), "busy_w": float((v * dt)[busy].sum() / t_busy)}
                 for nm, v in zip(names, values)}
        # Total: sum of rails when the board has them, else the (first) external meter.
        pick = [nm for nm in names if nm in self.rails] or names[:1]
        p_idle = sum(rails[nm]["idle_w"] for nm in pick)
        p_busy = sum(rails[nm]["busy_w"] for nm in pick)
        note = "simulated rails (power model of the simulated board)" if self.simulated and self.rails else ""
        return PowerReport(self.source, self.simulated, note, rails, p_idle, p_busy,
                           (p_busy - p_idle) * t_busy / max(n, 1), t_busy, len(t))
