"""Closed-form cost model of the DNNU templates: cycles, resources, power, energy.

One module for both users: the generator (estimates written with every build, the
parallelizer's objective) and the NAS (cheap objectives computed from a :class:`Topology`
via :func:`plan_stages` before any training). Coefficients live per board in
``cost_coefficients/<board>.yaml``; measurements refine them by least squares, so every
fitted quantity is linear in its coefficients and the feature vectors are exposed
(:func:`lut_features`, :func:`ff_features`, :func:`power_features`, :func:`latency_features`).

Template model (hls/include/sustainml: one time step of all channels per stream beat; every
loop named below is the template's; a pipelined loop of N trips and depth D takes N + D - 1):

* unrolling dimensions (:func:`unroll_dims`): conv1d pe=out_ch, simd=in_ch, kp=kernel;
  dwconv1d pe=channels, kp=kernel; pwconv1d pe=out_ch, simd=in_ch; dense pe=units,
  simd=in_len*in_ch; pooling pe=channels. ``folds = prod(ceil(dim / factor))``.
* windowed stages (conv1d, dwconv1d, max/avg pooling): ``(in_len + 2*padding) * step_cycles``
  for the position loop plus, per output step, the fold loop; pwconv1d: the fold loop per
  input step; dense and gap1d: take the sample in (pipelined), then fold.
* DMA: the m_axi copy loops move one element per cycle.
* pipeline: ``t_first[i] = t_first[i-1] + fill_i`` and
  ``t_last[i] = max(t_first[i] + interval_i, t_last[i-1] + drain_i)``; the batch interval is
  the bottleneck (largest) interval; latency of one call of ``batch`` samples is
  ``t_last + (batch-1) * interval``.
* resources: M = pe*simd*kp multipliers per compute stage, on DSPs when the weights are not
  constants (folds > 1) and ``w_bits + in_bits >= dsp_min_product_bits``, else in LUTs
  (:func:`multiplier_on_dsp`, the template's ``BIND_OP``); weights partitioned cyclic into
  M banks (biases into pe banks), each bank in BRAM18 (7-series/UltraScale+ aspect ratios)
  unless smaller than ``bram_min_bits`` (then LUT ROM); LUT/FF are linear in the
  coefficients (see ``*_features``). Accumulators are ``acc_bits`` wide (the safe default is
  the overflow-free bound, nas/accumulators.py); a saturating one (``acc_overflow``) counts
  its lanes twice in ``lut_lane_bit`` (compare + clip mux), an approximation not yet fitted.
* power: ``P_pl = static_w + (f/100MHz) * (dsp_w*DSP + lut_w*LUT + ff_w*FF + bram_w*BRAM36)``;
  the PS draws ``ps_w`` while it waits for the DNNU. A refined file adds event energies (``e_*_j``,
  :data:`POWER_REFINEMENT`): the dynamic energy of an inference counted from what switches
  (:func:`event_counts`), over the inference interval.
* time of one call: ``c_fixed_s + c_byte_s * dma_bytes + c_cycle * cycles / f``.

Measured form (``sustainml refine`` writes it; :data:`LATENCY_REFINEMENT`,
:data:`POWER_REFINEMENT`): per-kind cycles per operand pass, loop and per-stage overheads,
stage overlap within a sample, the RTL pipeline's latency form, and dynamic energy per switching
event, fitted per board. Files
without those terms (the priors) give exactly the template model above.
"""
from __future__ import annotations

import math
import copy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import yaml

from sustainml.errors import SustainmlError
from sustainml.yamlio import read_yaml

from . import rtl_timing
from .catalogue import Board, get_board
from .quantized import COMPUTE_KINDS, QuantizedModel, Stage, plan_stages
from .topology import Topology

COEFF_DIR = Path(__file__).with_name("cost_coefficients")
LATENCY_TERMS = ("c_fixed_s", "c_byte_s", "c_cycle")
POWER_TERMS = ("static_w", "dsp_w", "lut_w", "ff_w", "bram_w")
LUT_TERMS = ("lut_base", "lut_stage", "lut_mult_bit2", "lut_add_bit", "lut_lane_bit", "lut_rom_col", "lut_buffer_bit")
FF_TERMS = ("ff_base", "ff_stage", "ff_add_bit", "ff_lane_bit", "ff_buffer_bit")
STRUCT_TERMS = ("dsp_min_product_bits", "bram_min_bits", "depth_compute", "depth_pool", "depth_dma", "step_cycles")
STAGE_KINDS = ("conv1d", "dwconv1d", "pwconv1d", "dense", "maxpool1d", "avgpool1d", "gap1d")
#: Latency coefficients of the *measured* form of the model, written by ``sustainml refine``.
#: A coefficients file without any of them uses the template cycle counts as they are; a file
#: with them (missing ones take these values) gives each stage the interval
#: ``ii_<kind> * work + loop_scale * (template interval - template fold trips) + stage_cycles``,
#: with fill and drain scaled alike, plus ``stage_depth`` cycles of pipeline latency on the fill
#: (one sample's latency, not the interval). ``work`` is the stage's operand passes per sample:
#: its folded MAC iterations, for pooling its input values per lane (:func:`stage_work`).
#: ``serial`` moves one sample's latency from the overlapped dataflow pipeline (0) towards
#: the stages running one after another (1). ``hw_fixed_s`` is the part of ``c_fixed_s`` spent
#: between ap_start and ap_done (DMA setup); the rest of it is the driver's, on the PS.
LATENCY_REFINEMENT: Dict[str, float] = {**{f"ii_{k}": 1.0 for k in STAGE_KINDS}, "loop_scale": 1.0,
                                        "stage_cycles": 0.0, "stage_depth": 0.0, "serial": 0.0,
                                        "hw_fixed_s": 0.0}
#: Event energies of the measured form (J per event; default 0, absent from prior files), written by
#: ``sustainml refine`` from the boards' measured dynamic energy: one inference's dynamic PL energy is
#: ``sum(e_k * n_k)`` over :func:`event_counts` (multiplier operand bit pairs, accumulator bits, weight/bias ROM
#: bits read, stream bits, pooling bits, HP-port beats to/from DDR, calls), from the topology, bits, unrolling and
#: cycles; the dynamic power is that energy over the inference interval, on top of the per-resource terms.
EVENTS = ("mac_bit2", "acc_bit", "rom_bit", "rom_cycle_bit", "stream_bit", "pool_bit", "ddr_beat", "call")
POWER_REFINEMENT: Dict[str, float] = {f"e_{k}_j": 0.0 for k in EVENTS}
#: The RTL pipeline's latency form (group ``rtl`` of a coefficients file, written by ``sustainml refine``
#: from circuit measurements; nas/rtl_timing.py): cycles of a call of B samples =
#: ``rtl_start_cycles + rtl_fill * sample_latency + rtl_interval * (B-1) * bottleneck
#: + rtl_stage_cycles * stages``; a stage's interval is ``rtl_interval * stage_period``. A file with this
#: group uses it instead of the template's cycle counts (``c_cycle`` still scales cycles to time; the
#: latency group's ``hw_fixed_s`` is then the seconds the driver's reading adds: its poll of ap_done).
RTL_LATENCY: Dict[str, float] = {"rtl_start_cycles": 0.0, "rtl_fill": 1.0, "rtl_interval": 1.0, "rtl_stage_cycles": 0.0}
#: Resource-mapping terms a fit adds to ``structure`` (default 0: absent from prior files): DSP48s
#: outside the stages (address and batch-size arithmetic of the AXI shell).
#: ``dsp_const``: 1 = products with a constant weight (a stage with one fold step) are DSP48s too (Yosys
#: infers them from the RTL), 0 = LUT fabric (the HLS template's choice); ``dsp_pool_lane``: 1 = every
#: average-pooling lane has a DSP48 (its AVG_MULT product), 0 = none; ``dsp_gap_lane``: the same for a global
#: average pooling lane (its product is acc-wide, so synthesis may map it where a pooling window's is not).
STRUCT_REFINEMENT: Dict[str, float] = {"dsp_base": 0.0, "dsp_const": 0.0, "dsp_pool_lane": 1.0, "dsp_gap_lane": 1.0}
#: LUT/FF terms a fit adds (default 0: absent from prior files): per bit of a dense stage's input
#: sample buffer (registers in the RTL, a ROM-like array in the HLS template).
LUT_REFINEMENT: Dict[str, float] = {"lut_sample_bit": 0.0}
FF_REFINEMENT: Dict[str, float] = {"ff_sample_bit": 0.0}
_OPTIONAL = {"latency": LATENCY_REFINEMENT, "power": POWER_REFINEMENT, "structure": STRUCT_REFINEMENT,
             "rtl": RTL_LATENCY, "lut": LUT_REFINEMENT, "ff": FF_REFINEMENT}


class CostModelError(SustainmlError, ValueError):
    """Bad coefficients file or an invalid unrolling; the message names the file or stage."""


# ---------------------------------------------------------------------------------- coefficients
@dataclass(frozen=True)
class Coefficients:
    """Per-board coefficients (``cost_coefficients/<board>.yaml``)."""

    board: str
    source: str
    latency: Tuple[Tuple[str, float], ...]
    power: Tuple[Tuple[str, float], ...]
    ps_w: float
    lut: Tuple[Tuple[str, float], ...]
    ff: Tuple[Tuple[str, float], ...]
    structure: Tuple[Tuple[str, float], ...]
    rtl: Tuple[Tuple[str, float], ...] = ()  # RTL_LATENCY terms; empty: template cycle counts

    def get(self, group: str, name: str) -> float:
        return self.table(group)[name]

    def table(self, group: str) -> Dict[str, float]:
        """One group as a dict (cached: the NAS calls the model per candidate)."""
        cache = self.__dict__.setdefault("_tables", {})
        if group not in cache:
            cache[group] = dict(getattr(self, group))
        return cache[group]

    def to_dict(self) -> Dict[str, Any]:
        return {"board": self.board, "source": self.source, "latency": dict(self.latency),
                "power": dict(self.power), "ps_w": self.ps_w, "lut": dict(self.lut), "ff": dict(self.ff),
                "structure": dict(self.structure), **({"rtl": dict(self.rtl)} if self.rtl else {})}

    def replace(self, group: str, values: Mapping[str, float], source: Optional[str] = None) -> "Coefficients":
        """A copy with some coefficients of ``group`` changed (what a fit produces)."""
        merged = dict(getattr(self, group))
        optional = _OPTIONAL.get(group, {})
        if set(values) & set(optional):  # setting any measured-form term switches to the measured form
            merged = {**optional, **merged}
        unknown = set(values) - set(merged)
        if unknown:
            raise CostModelError(f"unknown {group} coefficient(s) {sorted(unknown)}")
        merged.update({k: float(v) for k, v in values.items()})
        doc = self.to_dict()
        doc[group] = merged
        if source is not None:
            doc["source"] = source
        return _coeffs_from_dict(doc, "<replace>")

    def save(self, path: Union[str, Path]) -> Path:
        p = Path(path)
        p.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return p


def _group(doc: Mapping[str, Any], name: str, terms: Sequence[str], where: str,
           optional: Optional[Mapping[str, float]] = None) -> Tuple[Tuple[str, float], ...]:
    g = doc.get(name)
    if not isinstance(g, Mapping):
        raise CostModelError(f"{where}: missing mapping {name!r}")
    missing = [t for t in terms if t not in g]
    if missing:
        raise CostModelError(f"{where}: {name} lacks {missing}")
    unknown = sorted(set(g) - set(terms) - set(optional or {}))
    if optional is not None and unknown:
        raise CostModelError(f"{where}: {name} has unknown coefficient(s) {unknown}")
    extra = [(t, d) for t, d in (optional or {}).items() if t not in terms] if set(g) & set(optional or {}) else ()
    try:
        return tuple((t, float(g[t])) for t in terms) + tuple((t, float(g.get(t, d))) for t, d in extra)
    except (TypeError, ValueError):
        raise CostModelError(f"{where}: {name} values must be numbers") from None


def _coeffs_from_dict(doc: Any, where: str) -> Coefficients:
    if not isinstance(doc, Mapping):
        raise CostModelError(f"{where}: expected a mapping")
    return Coefficients(board=str(doc.get("board", "")), source=str(doc.get("source", "")),
                        latency=_group(doc, "latency", LATENCY_TERMS, where, LATENCY_REFINEMENT),
                        power=_group(doc, "power", POWER_TERMS, where, POWER_REFINEMENT), ps_w=float(doc.get("ps_w", 0.0)),
                        lut=_group(doc, "lut", LUT_TERMS, where, LUT_REFINEMENT),
                        ff=_group(doc, "ff", FF_TERMS, where, FF_REFINEMENT),
                        structure=_group(doc, "structure", STRUCT_TERMS, where, STRUCT_REFINEMENT),
                        rtl=_group(doc, "rtl", (), where, RTL_LATENCY) if doc.get("rtl") is not None else ())


@lru_cache(maxsize=None)
def _load_coeffs(path: str) -> Coefficients:
    doc = read_yaml(path, CostModelError, "no cost coefficients for this board")
    return _coeffs_from_dict(doc, str(path))


def load_coefficients(board: Union[str, Board], path: Union[str, Path, None] = None) -> Coefficients:
    """Coefficients of a catalogue board (or from ``path``)."""
    name = board.name if isinstance(board, Board) else get_board(board).name
    return _load_coeffs(str(Path(path) if path else COEFF_DIR / f"{name}.yaml"))


# ---------------------------------------------------------------------------------- unrolling
def unroll_dims(stage: Stage) -> Tuple[int, int, int]:
    """The dimensions that ``pe``, ``simd`` and ``kp`` fold (1 = not unrollable)."""
    k = stage.kind
    if k == "conv1d":
        return stage.out_ch, stage.in_ch, stage.kernel
    if k == "dwconv1d":
        return stage.out_ch, 1, stage.kernel
    if k == "pwconv1d":
        return stage.out_ch, stage.in_ch, 1
    if k == "dense":
        return stage.out_ch, stage.in_len * stage.in_ch, 1
    return stage.in_ch, 1, 1  # pooling: PE channels per cycle


def check_unrolling(stage: Stage, where: str = "stage") -> None:
    """Raise unless pe/simd/kp are positive divisors of their dimensions."""
    for name, factor, dim in zip(("pe", "simd", "kp"), (stage.pe, stage.simd, stage.kp), unroll_dims(stage)):
        if not isinstance(factor, int) or factor < 1 or dim % factor:
            raise CostModelError(f"{where} ({stage.kind}): {name}={factor!r} must divide {dim}")


def container_bits(bits: int) -> int:
    """DMA container width of a ``bits``-wide integer (8, 16 or 32)."""
    return 8 if bits <= 8 else 16 if bits <= 16 else 32


def stream_depths(stages: Sequence[Stage]) -> List[int]:
    """FIFO depth (in beats) of the stream feeding each stage, then of the output stream.

    The pipeline is linear, so depth 2 never deadlocks and suffices where the consumer reads as
    it computes. dense and gap1d first read a whole sample and then compute without reading;
    the stream feeding them holds a whole sample (``in_len`` beats), so their producer runs on
    into the next sample instead of stalling, and the pipeline's interval stays the slowest
    stage's (what :func:`combine` assumes).
    """
    return [max(2, s.in_len) if s.kind in ("dense", "gap1d") else 2 for s in stages] + [2]


# ---------------------------------------------------------------------------------- per stage
@dataclass
class StageCost:
    """Cycles and resources of one stage at its unrolling."""

    index: int
    kind: str
    pe: int
    simd: int
    kp: int
    folds: int
    interval: int
    fill: int
    drain: int
    mults: int
    dsp: int
    bram18: int
    lut: float
    ff: float
    lut_x: Dict[str, float] = field(default_factory=dict, repr=False)
    ff_x: Dict[str, float] = field(default_factory=dict, repr=False)
    work: int = 0  # operand passes per sample (stage_work)
    #: (interval, fill, drain, fold trips) of the template, before any measured refinement
    template: Tuple[int, int, int, int] = (0, 0, 0, 0)
    period: int = 0  # steady-state cycles per sample of the RTL stage (nas/rtl_timing.py)


def stage_work(stage: Stage, folds: int) -> int:
    """Operand passes per sample through the stage's lanes: folded MAC iterations of a compute
    stage, input values per lane of a pooling stage (every input is read once)."""
    if stage.kind in ("conv1d", "dwconv1d"):
        return stage.out_len * folds
    if stage.kind == "dense":
        return folds
    return stage.in_len * folds  # pwconv1d, pooling


def with_latency(cost: StageCost, coeffs: Coefficients) -> StageCost:
    """``cost`` with the interval, fill and drain of ``coeffs`` (template or measured form, see
    LATENCY_REFINEMENT); resources are left as they are. Lets a fit re-time cached stage costs."""
    lat = coeffs.table("latency")
    interval, fill, drain, trips = cost.template
    if coeffs.rtl:  # RTL pipeline form: the fill is the whole design's (combine), not per stage
        interval = coeffs.table("rtl")["rtl_interval"] * cost.period
    elif "loop_scale" in lat:
        new = lat[f"ii_{cost.kind}"] * cost.work + lat["loop_scale"] * (interval - trips) + lat["stage_cycles"]
        r = new / interval if interval else 1.0
        interval, fill, drain = new, fill * r + lat["stage_depth"], drain * r
    out = copy.copy(cost)  # (dataclasses.replace is ~10x slower; fits call this per evaluation)
    out.interval, out.fill, out.drain = interval, fill, drain
    return out


def _bram_width(depth: int) -> int:
    """Widest BRAM18 aspect ratio that holds ``depth`` words (SDP 512x36 ... 16Kx1)."""
    for d, w in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2)):
        if depth <= d:
            return w
    return 1


def _rom(words: int, width: int, bram_min_bits: float) -> Tuple[int, float]:
    """(BRAM18 count, LUT-ROM columns) of a ``words`` x ``width`` constant array."""
    if words <= 0 or width <= 0:
        return 0, 0.0
    if words * width < bram_min_bits:
        return 0, float(width * math.ceil(words / 64))
    return math.ceil(width / _bram_width(min(words, 16384))) * math.ceil(words / 16384), 0.0


def n_weights(stage: Stage) -> int:
    k = stage.kind
    if k == "conv1d":
        return stage.kernel * stage.in_ch * stage.out_ch
    if k == "dwconv1d":
        return stage.kernel * stage.in_ch
    if k == "pwconv1d":
        return stage.in_ch * stage.out_ch
    if k == "dense":
        return stage.in_len * stage.in_ch * stage.out_ch
    return 0


#: Default of the ``dsp_min_product_bits`` structure coefficient (every board file has it).
DSP_MIN_PRODUCT_BITS = 10


def multiplier_on_dsp(stage: Stage, folds: int, min_product_bits: float = DSP_MIN_PRODUCT_BITS) -> bool:
    """Whether a compute stage's multipliers are DSP48s (the template's ``BIND_OP impl=dsp``) or
    LUT fabric (``impl=fabric``); the generator emits this choice as ``MUL_DSP``.

    With ``folds == 1`` every weight lane holds one constant: a constant multiply, which Vitis HLS
    builds from LUTs (shift-and-add), so fabric. Otherwise both operands vary and the product
    width decides: ``w_bits + in_bits >= min_product_bits`` on a DSP, narrower in LUTs.
    """
    return folds > 1 and stage.w_bits + stage.in_bits >= min_product_bits


def _pipelined(trips: int, depth: int) -> int:
    """Cycles of one pipelined (II=1) loop: trips plus its fill."""
    return trips + depth - 1 if trips > 0 else 0


def stage_cost(stage: Stage, coeffs: Coefficients, index: int = 0, pe: Optional[int] = None,
               simd: Optional[int] = None, kp: Optional[int] = None) -> StageCost:
    """Cost of one stage (optionally at other unrolling factors than the stage's own).

    Cycles follow the loop structure of the hls/ templates: windowed stages (conv1d,
    dwconv1d, pooling) run a non-pipelined loop over the padded positions (``step_cycles``
    each) and, per output step, a pipelined fold loop; pwconv1d runs the fold loop once per
    input step; dense and gap1d first take in all steps (pipelined) and then fold.
    """
    pe = stage.pe if pe is None else pe
    simd = stage.simd if simd is None else simd
    kp = stage.kp if kp is None else kp
    st = coeffs.table("structure")
    step = int(st["step_cycles"])
    steps_in = stage.in_len + 2 * stage.padding
    lut_x = {t: 0.0 for t in LUT_TERMS + tuple(LUT_REFINEMENT)}
    ff_x = {t: 0.0 for t in FF_TERMS + tuple(FF_REFINEMENT)}
    lut_x["lut_stage"] = ff_x["ff_stage"] = 1.0
    step_bits = stage.in_ch * stage.in_bits
    dp, ds, dk = unroll_dims(stage)
    folds = -(-dp // pe) * -(-ds // simd) * -(-dk // kp)
    dsp = bram18 = mults = 0
    kind = stage.kind
    if stage.is_compute:
        depth = int(st["depth_compute"]) + max(0, math.ceil(math.log2(simd * kp)))
        mults = pe * simd * kp
        min_bits = st["dsp_min_product_bits"]
        const_on_dsp = folds == 1 and st.get("dsp_const", 0.0) and multiplier_on_dsp(stage, 2, min_bits)
        if const_on_dsp or multiplier_on_dsp(stage, folds, min_bits):
            dsp = mults
        else:
            lut_x["lut_mult_bit2"] = float(mults * stage.w_bits * stage.in_bits)
        lut_x["lut_add_bit"] = ff_x["ff_add_bit"] = float(mults * stage.acc_bits)
        lut_x["lut_lane_bit"] = ff_x["ff_lane_bit"] = float(pe * stage.acc_bits)
        if stage.acc_overflow == "saturate":  # compare + clip mux per lane: about one more lane width of LUTs
            lut_x["lut_lane_bit"] *= 2
        # weights: ARRAY_PARTITION cyclic into `mults` banks; biases (acc_t) into `pe` banks
        b18, cols = _rom(-(-n_weights(stage) // mults), stage.w_bits, st["bram_min_bits"])
        bb18, bcols = _rom(-(-stage.out_ch // pe), stage.acc_bits, st["bram_min_bits"])
        bram18 = mults * b18 + pe * bb18
        lut_x["lut_rom_col"] = mults * cols + pe * bcols
    else:
        depth = int(st["depth_pool"])
        if kind in ("avgpool1d", "gap1d"):
            lane = "dsp_gap_lane" if kind == "gap1d" else "dsp_pool_lane"
            dsp = pe * int(st.get(lane, 1.0))  # one AVG_MULT product per lane
        lut_x["lut_lane_bit"] = ff_x["ff_lane_bit"] = float(pe * stage.in_bits)
    fold_loop = _pipelined(folds, depth)
    if kind in ("conv1d", "dwconv1d", "maxpool1d", "avgpool1d"):
        lut_x["lut_buffer_bit"] = ff_x["ff_buffer_bit"] = float(stage.kernel * step_bits)
        interval = steps_in * step + stage.out_len * fold_loop
        fill = step * max(1, stage.kernel - stage.padding) + fold_loop
        drain = (stage.padding + 1) * (step + fold_loop)
    elif kind == "pwconv1d":
        interval = stage.in_len * (step + fold_loop)
        fill = drain = step + fold_loop
    else:  # dense, gap1d: take the whole sample in, then fold
        if kind == "dense":  # input buffer x[NIN], cyclic factor SIMD
            lut_x["lut_sample_bit"] = ff_x["ff_sample_bit"] = float(stage.in_len * stage.in_ch * stage.in_bits)
            b18, cols = _rom(-(-(stage.in_len * stage.in_ch) // simd), stage.in_bits, st["bram_min_bits"])
            bram18 += simd * b18
            lut_x["lut_rom_col"] += simd * cols
        else:
            lut_x["lut_buffer_bit"] = ff_x["ff_buffer_bit"] = float(step_bits + stage.in_len.bit_length() * stage.in_ch)
        fill_loop = _pipelined(stage.in_len, depth)
        interval = fill_loop + fold_loop
        fill = interval
        drain = fold_loop + depth
    lut_c, ff_c = coeffs.table("lut"), coeffs.table("ff")
    lut = sum(lut_c.get(t, 0.0) * v for t, v in lut_x.items() if v)
    ff = sum(ff_c.get(t, 0.0) * v for t, v in ff_x.items() if v)
    trips = folds * (stage.out_len if kind in ("conv1d", "dwconv1d", "maxpool1d", "avgpool1d")
                     else stage.in_len if kind == "pwconv1d" else 1)
    cost = StageCost(index, kind, pe, simd, kp, folds, interval, fill, drain, mults, dsp, bram18, lut, ff,
                     lut_x, ff_x, stage_work(stage, folds), (interval, fill, drain, trips),
                     rtl_timing.stage_period(stage, folds))
    return with_latency(cost, coeffs) if coeffs.rtl or "loop_scale" in coeffs.table("latency") else cost


# ---------------------------------------------------------------------------------- whole design
@dataclass
class Estimate:
    """Cost of a whole DNNU design on one board."""

    board: str
    clock_mhz: float
    batch: int
    stages: List[StageCost]
    io_in_interval: int
    io_out_interval: int
    interval: int  # bottleneck cycles per sample
    bottleneck: str  # "stage i (kind)" or "dma in"/"dma out"
    latency_cycles: int  # one call of `batch` samples
    dma_bytes: int  # per call
    dsp: int
    bram18: int
    lut: float
    ff: float
    latency_s: float
    throughput_fps: float
    power: Dict[str, float]
    energy_j: float  # PL energy per inference at steady state
    energy_system_j: float  # PL + PS energy per inference at steady state
    utilization: Dict[str, float]
    fits: bool
    lut_x: Dict[str, float] = field(default_factory=dict, repr=False)
    ff_x: Dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def bram36(self) -> float:
        return self.bram18 / 2.0

    @property
    def resources(self) -> Dict[str, float]:
        return {"lut": round(self.lut), "ff": round(self.ff), "bram36": self.bram36, "dsp": self.dsp}

    def to_dict(self) -> Dict[str, Any]:
        """Plain, rounded summary (what reports and manifests store)."""
        return {
            "board": self.board, "clock_mhz": self.clock_mhz, "batch": self.batch,
            "interval_cycles": _cycles(self.interval), "bottleneck": self.bottleneck,
            "latency_cycles": _cycles(self.latency_cycles), "latency_us": round(self.latency_s * 1e6, 3),
            "throughput_fps": round(self.throughput_fps, 1), "dma_bytes": self.dma_bytes,
            "resources": self.resources, "utilization": {k: round(v, 4) for k, v in self.utilization.items()},
            "fits": self.fits, "power_w": {k: round(v, 5) for k, v in self.power.items()},
            "energy_per_inference_uj": round(self.energy_j * 1e6, 4),
            "energy_per_inference_system_uj": round(self.energy_system_j * 1e6, 4),
            "stages": [{"stage": s.index, "kind": s.kind, "pe": s.pe, "simd": s.simd, "kp": s.kp,
                        "interval_cycles": _cycles(s.interval), "multipliers": s.mults, "dsp": s.dsp,
                        "bram36": s.bram18 / 2.0, "lut": round(s.lut), "ff": round(s.ff)} for s in self.stages],
        }


def _cycles(x: float) -> Union[int, float]:
    """Cycle counts for reports: integers stay integers (template form), measured-form ones get 0.1."""
    return int(x) if float(x).is_integer() else round(float(x), 1)


def _io_bytes(stages: Sequence[Stage]) -> Tuple[int, int]:
    first, last = stages[0], stages[-1]
    return (first.in_len * first.in_ch * container_bits(first.in_bits) // 8,
            last.out_ch * container_bits(last.out_bits) // 8)


def event_counts(costs: Sequence[StageCost], stages: Sequence[Stage], board: Board, cycles: float,
                 batch: Optional[int] = None) -> Dict[str, float]:
    """Switching events of one inference, from the topology, bits and unrolling (POWER_REFINEMENT);
    ``cycles``: clock cycles per inference; ``batch``: samples per call (None: steady state).

    * ``mac_bit2``: multiplier operations x ``w_bits * in_bits`` (an array multiplier's size), counting
      every lane of every fold step (padding lanes of a partial fold switch too);
    * ``acc_bit``: the same operations x ``acc_bits`` (adder tree and accumulator);
    * ``rom_bit``: weight and bias bits the fold steps read (a word of ``lanes * w_bits + pe * acc_bits``);
    * ``rom_cycle_bit``: the same words' bits x cycles: the RTL MVU reads its ROMs on every cycle its
      pipeline is enabled, stepping or waiting for input (hls/rtl/sml_mvu.v);
    * ``stream_bit``: bits moved over the inter-stage streams (every stage's input, and the result);
    * ``pool_bit``: bits a pooling stage (max, average, global average) reads;
    * ``ddr_beat``: beats of the board's HP port (``hp_port_bits``) reading the samples and writing the
      results of a call, whole beats per transfer;
    * ``call``: one per call (start, pipeline fill and flush), ``1 / batch`` per inference.
    """
    n = dict.fromkeys(EVENTS, 0.0)
    for c, s in zip(costs, stages):
        if s.kind in COMPUTE_KINDS:
            ops = float(c.work * c.mults)
            word = c.mults * s.w_bits + c.pe * s.acc_bits
            n["mac_bit2"] += ops * s.w_bits * s.in_bits
            n["acc_bit"] += ops * s.acc_bits
            n["rom_bit"] += c.work * word
            n["rom_cycle_bit"] += cycles * word
        else:
            n["pool_bit"] += s.in_len * s.in_ch * s.in_bits
        n["stream_bit"] += s.in_len * s.in_ch * s.in_bits
    last = stages[-1]
    n["stream_bit"] += last.out_ch * last.out_bits
    bus = board.hp_port_bits / 8.0
    if batch is None:
        n["ddr_beat"] = sum(_io_bytes(stages)) / bus
    else:
        n["ddr_beat"] = sum(math.ceil(batch * b / bus) for b in _io_bytes(stages)) / batch
        n["call"] = 1.0 / batch
    return n


def combine(costs: Sequence[StageCost], stages: Sequence[Stage], board: Board, coeffs: Coefficients,
            batch: int = 1, clock_mhz: Optional[float] = None) -> Estimate:
    """Assemble per-stage costs into a design estimate (see the module docstring)."""
    f_mhz = float(clock_mhz or board.clock_mhz)
    first, last = stages[0], stages[-1]
    st = coeffs.table("structure")
    dma = int(st["depth_dma"])
    # one element per cycle (II=1 copy loops); the HP port moves hp_port_bits per cycle
    io_in = max(first.in_len * first.in_ch, -(-(first.in_len * first.in_ch * container_bits(first.in_bits)) // board.hp_port_bits))
    io_out = last.out_ch
    t_first = first.in_ch + dma
    t_last = io_in + dma
    worst, where = io_in, "dma in"
    for c in costs:
        t_first_new = t_first + c.fill
        t_last = max(t_first_new + c.interval, t_last + c.drain)
        t_first = t_first_new
        if c.interval > worst:
            worst, where = c.interval, f"stage {c.index} ({c.kind})"
    if io_out > worst:
        worst, where = io_out, "dma out"
    t_last += io_out + dma
    lat = coeffs.table("latency")
    serial = lat.get("serial", 0.0)
    if coeffs.rtl:  # RTL pipeline form (RTL_LATENCY, nas/rtl_timing.py)
        rt = coeffs.table("rtl")
        period, at = rtl_timing.bottleneck([c.period for c in costs], stages)
        worst = rt["rtl_interval"] * period
        where = "dma in" if at < 0 else "dma out" if at >= len(costs) else f"stage {at} ({costs[at].kind})"
        t_last = (rt["rtl_start_cycles"] + rt["rtl_fill"] * rtl_timing.sample_latency(stages, [c.folds for c in costs])
                  + rt["rtl_stage_cycles"] * len(costs))
    elif serial:  # measured: stages of one sample overlap less than the ideal dataflow pipeline
        one_by_one = 2 * dma + io_in + sum(c.interval + lat["stage_depth"] for c in costs) + io_out
        t_last += serial * (one_by_one - t_last)
    cycles = t_last + (batch - 1) * worst
    b_in, b_out = _io_bytes(stages)
    dma_bytes = batch * (b_in + b_out)
    lut_x = {t: 0.0 for t in LUT_TERMS + tuple(LUT_REFINEMENT)}
    ff_x = {t: 0.0 for t in FF_TERMS + tuple(FF_REFINEMENT)}
    for c in costs:
        for t, v in c.lut_x.items():
            lut_x[t] += v
        for t, v in c.ff_x.items():
            ff_x[t] += v
    lut_x["lut_base"] = ff_x["ff_base"] = 1.0
    lut_c, ff_c = coeffs.table("lut"), coeffs.table("ff")
    lut = sum(lut_c.get(t, 0.0) * v for t, v in lut_x.items())
    ff = sum(ff_c.get(t, 0.0) * v for t, v in ff_x.items())
    dsp = sum(c.dsp for c in costs) + int(round(st.get("dsp_base", 0.0)))
    bram18 = sum(c.bram18 for c in costs)
    lat = coeffs.table("latency")
    latency_s = lat["c_fixed_s"] + lat["c_byte_s"] * dma_bytes + lat["c_cycle"] * cycles / (f_mhz * 1e6)
    per_inf_s = lat["c_byte_s"] * (b_in + b_out) + lat["c_cycle"] * worst / (f_mhz * 1e6)
    pw = coeffs.table("power")
    scale = f_mhz / 100.0
    dynamic = scale * (pw["dsp_w"] * dsp + pw["lut_w"] * lut + pw["ff_w"] * ff + pw["bram_w"] * bram18 / 2.0)
    events = event_counts(costs, stages, board, worst)  # steady state: one interval per inference
    dynamic += sum(pw.get(f"e_{k}_j", 0.0) * n for k, n in events.items()) / per_inf_s
    power = {"static": pw["static_w"], "dynamic": dynamic, "pl": pw["static_w"] + dynamic, "ps": coeffs.ps_w}
    res = board.budget
    util = {"lut": lut / res["lut"], "ff": ff / res["ff"], "bram36": bram18 / 2.0 / max(res["bram36"], 1),
            "dsp": dsp / max(res["dsp"], 1)}
    fits = all(v <= 1.0 for v in util.values())
    return Estimate(board.name, f_mhz, batch, list(costs), io_in, io_out, worst, where, cycles, dma_bytes, dsp,
                    bram18, lut, ff, latency_s, 1.0 / per_inf_s, power, power["pl"] * per_inf_s,
                    (power["pl"] + coeffs.ps_w) * per_inf_s, util, fits, lut_x, ff_x)


def estimate(design: Union[Topology, QuantizedModel, Sequence[Stage]], board: Union[str, Board] = "pynq-z2",
             coeffs: Optional[Coefficients] = None, batch: int = 1, clock_mhz: Optional[float] = None) -> Estimate:
    """Estimate a design: a Topology (stages planned, no unrolling), a model, or stages."""
    b = board if isinstance(board, Board) else get_board(board)
    c = coeffs or load_coefficients(b)
    if isinstance(design, Topology):
        stages: Sequence[Stage] = plan_stages(design)
    elif isinstance(design, QuantizedModel):
        stages = design.stages
    else:
        stages = design
    if not stages:
        raise CostModelError("design has no stages")
    if batch < 1:
        raise CostModelError(f"batch={batch} must be >= 1")
    costs = []
    for i, s in enumerate(stages):
        check_unrolling(s, f"stage {i}")
        costs.append(stage_cost(s, c, i))
    return combine(costs, stages, b, c, batch, clock_mhz)


# ---------------------------------------------------------------------------------- feature vectors
def latency_features(est: Estimate) -> Dict[str, float]:
    """x with ``latency_s = sum(coeff[k] * x[k])`` over LATENCY_TERMS for this call."""
    return {"c_fixed_s": 1.0, "c_byte_s": float(est.dma_bytes), "c_cycle": est.latency_cycles / (est.clock_mhz * 1e6)}


def power_features(est: Estimate) -> Dict[str, float]:
    """x with ``P_pl = sum(coeff[k] * x[k])`` over POWER_TERMS (prior form; event energies: event_counts)."""
    s = est.clock_mhz / 100.0
    return {"static_w": 1.0, "dsp_w": s * est.dsp, "lut_w": s * est.lut, "ff_w": s * est.ff,
            "bram_w": s * est.bram18 / 2.0}


def lut_features(est: Estimate) -> Dict[str, float]:
    """x with ``LUT = sum(coeff[k] * x[k])`` over LUT_TERMS."""
    return dict(est.lut_x)


def ff_features(est: Estimate) -> Dict[str, float]:
    """x with ``FF = sum(coeff[k] * x[k])`` over FF_TERMS."""
    return dict(est.ff_x)


def features(est: Estimate) -> Dict[str, float]:
    """The whole feature vector of a design, keys prefixed by the model they feed."""
    out: Dict[str, float] = {}
    for prefix, fx in (("latency", latency_features), ("power", power_features), ("lut", lut_features),
                       ("ff", ff_features)):
        out.update({f"{prefix}.{k}": v for k, v in fx(est).items()})
    return out


def predict(coeffs: Coefficients, group: str, x: Mapping[str, float]) -> float:
    """``sum(coeff * x)`` for one group (latency, power, lut, ff)."""
    c = coeffs.table(group)
    return sum(c.get(k, 0.0) * v for k, v in x.items())


def objectives(topology: Topology, board: Union[str, Board] = "pynq-z2") -> Dict[str, float]:
    """The NAS's cheap objectives of a topology at minimum unrolling (pe=simd=kp=1)."""
    e = estimate(topology, board)
    return {"latency_s": e.latency_s, "interval_cycles": float(e.interval), "dsp": float(e.dsp),
            "lut": e.lut, "bram36": e.bram36, "energy_j": e.energy_j, "power_w": e.power["pl"],
            "fits": float(e.fits)}


# ---------------------------------------------------------------------------------- hardware-time band
#: How far a measured hardware time may be from the estimate, as a factor either way, by where the
#: coefficients come from: the hand-set priors were measured up to ~3.5x off on simulated boards
#: (README, refinement table), refined fits within a few percent; a real board adds its own spread.
BAND_FACTOR = {"prior": 4.0, "refined": 1.5, "explicit": 1.5}
BAND_BATCHES = (1, 8, 64)


def hardware_time_s(est: Estimate, coeffs: Coefficients, batch: int) -> float:
    """Estimated ap_start -> ap_done time of one call of ``batch`` samples (no driver time)."""
    lat = coeffs.table("latency")
    cycles = est.latency_cycles + (batch - est.batch) * est.interval
    return lat.get("hw_fixed_s", 0.0) + lat["c_cycle"] * cycles / (est.clock_mhz * 1e6)


def hardware_time_band(est: Estimate, coeffs: Coefficients, kind: str,
                       batches: Sequence[int] = BAND_BATCHES) -> Dict[str, Any]:
    """The band the measured hardware time of each batch must fall in (written into the manifest):
    ``[estimate / factor, estimate * factor]`` with the factor of the coefficients' ``kind``."""
    factor = BAND_FACTOR.get(kind, BAND_FACTOR["prior"])
    rows = []
    for b in batches:
        t = hardware_time_s(est, coeffs, b) * 1e6
        rows.append({"batch": int(b), "estimate_us": round(t, 3), "lo_us": round(t / factor, 3),
                     "hi_us": round(t * factor, 3)})
    return {"coefficients": kind, "factor": factor, "batches": rows}
