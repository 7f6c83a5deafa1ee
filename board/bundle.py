"""The overlay bundle (``overlays/NAME/``): manifest, file hashes, part check.

A bundle is a directory holding ``manifest.yaml`` (format ``sustainml-overlay/1``, see
docs/CONTRACTS.md), ``manifest.sha256`` (the manifest's own sha256, ``sha256sum`` format) and
every file the manifest lists under ``files:`` with its sha256. Loading refuses a bundle whose
manifest does not match its digest (edited after it was built), whose listed files are missing,
changed or named outside the bundle (``..``, absolute, unsafe characters: :mod:`.names`), or
that holds files the manifest does not list, naming the file; :func:`check_part` refuses a
bundle built for another part. The host-side generator writes bundles with
:func:`write_manifest` (the one writer of both files), which fills in ``files:`` and derives
the float golden input the smoke test runs through the manifest's quantizer.

Board-side module: standard library, numpy and pyyaml only.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import yaml

from sustainml.yamlio import plain, read_yaml

from . import fp8
from .errors import BundleError
from .names import check_name, check_relpath, inside

FORMAT = "sustainml-overlay/1"
MANIFEST = "manifest.yaml"
#: The manifest's digest, beside it: ``<sha256>  manifest.yaml`` (``sha256sum -c`` reads it).
DIGEST = "manifest.sha256"
#: Float golden input (derived by :func:`write_manifest`); its expected outputs are ``golden.output``.
FLOAT_INPUT = "golden_float_input.npy"
#: Offsets (in LSBs) added to the dequantized golden input: the right quantizer rounds them away.
FLOAT_JITTER = 0.4
KINDS = ("bitstream", "sim", "rtlsim")
#: Kinds the simulated board runs: the C-simulation library (sim) or the Verilated RTL (rtlsim).
SIM_KINDS = ("sim", "rtlsim")
REQUIRED = ("format", "name", "kind", "board", "part", "clock_mhz", "ip", "registers", "io")
REGISTERS = ("ap_ctrl", "in_addr", "out_addr", "batch")
#: Vitis HLS s_axilite layout of ``void dnnu(in*, out*, int batch)`` (64-bit pointers).
DEFAULT_REGISTERS = {"ap_ctrl": 0x00, "gie": 0x04, "ier": 0x08, "isr": 0x0C,
                     "in_addr": 0x10, "out_addr": 0x1C, "batch": 0x28}
DTYPES = ("int8", "int16", "int32")
#: I/O encodings: integer containers, or FP8 E5M2 codes (uint8) with a bias register per side.
FP8_ENCODING = "fp8-e5m2"
ENCODINGS = ("int", FP8_ENCODING)
#: Extra s_axilite registers of a DNNU with FP8 I/O (Vitis HLS layout after ``batch``).
FP8_REGISTERS = {"in_bias": 0x30, "out_bias": 0x38}

PathLike = Union[str, Path]


def sha256_file(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def container_dtype(bits: int) -> str:
    """The DMA container of a ``bits``-wide integer: int8 / int16 / int32."""
    return "int8" if bits <= 8 else "int16" if bits <= 16 else "int32"


@dataclass(frozen=True)
class IoSpec:
    """One DMA stream: per-sample shape, container dtype and fixed-point format.

    With ``encoding: fp8-e5m2`` the container holds FP8 E5M2 codes (``dtype: uint8``) at the
    bias in register ``register`` (default value ``bias``); ``bits``/``frac`` are then the
    integer grid the DNNU quantizes the input to, or its logits' format."""

    shape: Tuple[int, ...]
    dtype: str
    bits: int
    signed: bool
    frac: int
    encoding: str = "int"
    bias: Optional[int] = None
    register: Optional[str] = None

    @property
    def fp8(self) -> bool:
        return self.encoding == FP8_ENCODING

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def quantize(self, x: np.ndarray, bias: Optional[int] = None) -> np.ndarray:
        """Float values → container values: ``clip(round_half_even(x * 2**frac))``, or for FP8
        I/O the E5M2 codes at ``bias`` (default: the manifest's)."""
        if self.fp8:
            return fp8.encode(np.asarray(x, dtype=np.float64), self.bias if bias is None else bias)
        q = np.round(np.asarray(x, dtype=np.float64) * (2.0 ** self.frac))
        return np.clip(q, self.lo, self.hi).astype(self.np_dtype)

    def dequantize(self, q: np.ndarray, bias: Optional[int] = None) -> np.ndarray:
        """Container values → floats (FP8 codes decoded at ``bias``, default the manifest's)."""
        if self.fp8:
            return fp8.decode(np.asarray(q), self.bias if bias is None else bias).astype(np.float64)
        return np.asarray(q, dtype=np.float64) / (2.0 ** self.frac)

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "IoSpec":
        if not isinstance(d, Mapping):
            raise BundleError(f"{where}: expected a mapping with shape, dtype, bits, signed, frac")
        enc = d.get("encoding", "int")
        if enc not in ENCODINGS:
            raise BundleError(f"{where}: encoding={enc!r} is not one of {', '.join(ENCODINGS)}")
        try:
            spec = cls(tuple(int(s) for s in d["shape"]), str(d["dtype"]), int(d["bits"]),
                       bool(d.get("signed", True)), int(d.get("frac", 0)), enc,
                       *((int(d["bias"]), str(d["register"])) if enc == FP8_ENCODING else ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: missing or invalid field ({exc})") from None
        if spec.fp8:
            if spec.dtype != "uint8":
                raise BundleError(f"{where}: dtype={spec.dtype!r}, FP8 codes travel as uint8")
            if not 0 <= int(spec.bias) <= 63:
                raise BundleError(f"{where}: bias={spec.bias} out of range (0..63)")
            if not 2 <= spec.bits <= 32:
                raise BundleError(f"{where}: bits={spec.bits} out of range (2..32)")
        elif spec.dtype not in DTYPES:
            raise BundleError(f"{where}: dtype={spec.dtype!r} is not one of {', '.join(DTYPES)}")
        elif not 1 <= spec.bits <= np.dtype(spec.dtype).itemsize * 8:
            raise BundleError(f"{where}: bits={spec.bits} does not fit dtype {spec.dtype}")
        if not spec.shape or min(spec.shape) < 1:
            raise BundleError(f"{where}: shape={list(spec.shape)} must be non-empty and positive")
        return spec

    def to_dict(self) -> Dict[str, Any]:
        d = {"shape": list(self.shape), "dtype": self.dtype, "bits": self.bits, "signed": self.signed,
             "frac": self.frac}
        if self.fp8:
            d.update(encoding=self.encoding, bias=self.bias, register=self.register)
        return d


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its directory and manifest, with typed views of what the runtime uses."""

    path: Path
    manifest: Dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def board(self) -> str:
        return str(self.manifest["board"])

    @property
    def part(self) -> str:
        return str(self.manifest["part"])

    @property
    def clock_mhz(self) -> float:
        return float(self.manifest["clock_mhz"])

    @property
    def ip_name(self) -> str:
        return str(self.manifest["ip"]["name"])

    @property
    def registers(self) -> Dict[str, int]:
        return {k: int(v) for k, v in self.manifest["registers"].items()}

    @property
    def input(self) -> IoSpec:
        return IoSpec.from_dict(self.manifest["io"].get("input"), f"{self.path / MANIFEST}: io.input")

    @property
    def output(self) -> IoSpec:
        return IoSpec.from_dict(self.manifest["io"].get("output"), f"{self.path / MANIFEST}: io.output")

    @property
    def hwh(self) -> Path:
        return self.path / f"{self.name}.hwh"

    @property
    def bitfile(self) -> Path:
        """What ``pynq.Overlay`` is given: ``NAME.bit`` (real) or, for a sim/rtlsim bundle, its library."""
        return self.path / (f"{self.name}.bit" if self.kind == "bitstream" else library_file(self.manifest))

    def golden(self) -> Tuple[np.ndarray, np.ndarray]:
        """The golden (input, output) integer vectors for smoke tests."""
        g = self.manifest.get("golden") or {}
        if "input" not in g or "output" not in g:
            raise BundleError(f"{self.path / MANIFEST}: no golden input/output vectors")
        return np.load(self.path / g["input"]), np.load(self.path / g["output"])

    def golden_float(self) -> Optional[np.ndarray]:
        """The float golden input (None for a bundle without one): quantized with ``io.input``
        it gives the golden input, so its expected outputs are the golden outputs."""
        name = (self.manifest.get("golden") or {}).get("float_input")
        return None if name is None else np.load(self.path / name, allow_pickle=False)


def read_manifest(bundle_dir: PathLike) -> Dict[str, Any]:
    """Parse and structurally validate ``manifest.yaml`` (hashes are not checked here)."""
    d = Path(bundle_dir)
    mpath = d / MANIFEST
    if not d.is_dir():
        raise BundleError(f"{d}: not a bundle directory")
    if not mpath.is_file():
        raise BundleError(f"{d}: not a bundle (no {MANIFEST})")
    doc = read_yaml(mpath, BundleError)
    validate_manifest(doc, str(mpath))
    return doc


def manifest_digest(bundle_dir: PathLike) -> str:
    """sha256 of the bundle's ``manifest.yaml`` bytes (it names the bundle: it lists every file's sha256)."""
    return sha256_file(Path(bundle_dir) / MANIFEST)


def verify_manifest_digest(bundle_dir: PathLike) -> str:
    """Refuse a manifest that does not match ``manifest.sha256`` (or has none); returns the digest."""
    d = Path(bundle_dir)
    if not (d / MANIFEST).is_file():
        raise BundleError(f"{d}: not a bundle (no {MANIFEST})")
    try:
        expected = (d / DIGEST).read_text().split()[0].lower()
    except (OSError, IndexError, UnicodeDecodeError):
        raise BundleError(f"{d / DIGEST}: missing or unreadable: the manifest is not covered by a digest "
                          "(rebuild the bundle with `sustainml build`)") from None
    got = manifest_digest(d)
    if got != expected:
        raise BundleError(f"{d / MANIFEST}: sha256 {got[:16]} does not match {DIGEST} ({expected[:16]}): "
                          "the manifest was edited after the bundle was built")
    return got


def validate_manifest(doc: Any, where: str = MANIFEST, need_files: bool = True) -> None:
    """Raise :class:`BundleError` naming the first missing or invalid field."""
    if not isinstance(doc, dict):
        raise BundleError(f"{where}: expected a mapping at the top level")
    if doc.get("format") != FORMAT:
        raise BundleError(f"{where}: format={doc.get('format')!r}, expected {FORMAT!r}")
    for key in REQUIRED + (("files",) if need_files else ()):
        if key not in doc:
            raise BundleError(f"{where}: missing field {key!r}")
    if doc["kind"] not in KINDS:
        raise BundleError(f"{where}: kind={doc['kind']!r} is not one of {', '.join(KINDS)}")
    check_name(doc["name"], f"{where}: name", BundleError)
    regs = doc["registers"]
    if not isinstance(regs, Mapping) or any(r not in regs for r in REGISTERS):
        raise BundleError(f"{where}: registers must give {', '.join(REGISTERS)}")
    if not isinstance(doc["ip"], Mapping) or "name" not in doc["ip"]:
        raise BundleError(f"{where}: ip.name is missing")
    if not isinstance(doc["io"], Mapping):
        raise BundleError(f"{where}: io must be a mapping with input and output")
    for side in ("input", "output"):
        spec = IoSpec.from_dict(doc["io"].get(side), f"{where}: io.{side}")
        if spec.fp8 and spec.register not in regs:
            raise BundleError(f"{where}: io.{side}.register={spec.register!r} is not in the register map")
    if doc["kind"] == "sim":
        sim = doc.get("sim")
        if not isinstance(sim, Mapping) or "library" not in sim or "symbol" not in sim:
            raise BundleError(f"{where}: a sim bundle needs sim.library and sim.symbol")
        check_relpath(sim["library"], f"{where}: sim.library", BundleError)
    if doc["kind"] == "rtlsim":
        rtl = doc.get("rtlsim")
        if not isinstance(rtl, Mapping) or "library" not in rtl or "rom_dir" not in rtl:
            raise BundleError(f"{where}: an rtlsim bundle needs rtlsim.library and rtlsim.rom_dir")
        check_relpath(rtl["library"], f"{where}: rtlsim.library", BundleError)
        check_relpath(rtl["rom_dir"], f"{where}: rtlsim.rom_dir", BundleError)
    golden = doc.get("golden") or {}
    if not isinstance(golden, Mapping):
        raise BundleError(f"{where}: golden must map input / output / float_input to file names")
    for key, rel in golden.items():
        check_relpath(rel, f"{where}: golden.{key}", BundleError)
    if need_files:
        if not isinstance(doc["files"], Mapping):
            raise BundleError(f"{where}: files must map file names to sha256")
        for rel in doc["files"]:
            check_relpath(rel, f"{where}: files key", BundleError)
            if rel in (MANIFEST, DIGEST):
                raise BundleError(f"{where}: files must not list {rel}")


def required_files(doc: Mapping[str, Any]) -> List[str]:
    """Files a bundle of this kind must list: the .hwh, the .bit or C-sim library, golden vectors."""
    name = doc["name"]
    req = [f"{name}.hwh", f"{name}.bit" if doc["kind"] == "bitstream" else library_file(doc)]
    req += [v for k, v in (doc.get("golden") or {}).items() if k in ("input", "output", "float_input")]
    return req


def library_file(doc: Mapping[str, Any]) -> str:
    """The simulation library of a sim (C-sim) or rtlsim (Verilated RTL) bundle."""
    return str(doc["rtlsim" if doc["kind"] == "rtlsim" else "sim"]["library"])


def bundle_files(bundle_dir: PathLike) -> List[str]:
    """Every regular file under the bundle except the manifest and its digest (and their temporaries
    from an interrupted :func:`write_manifest`), as sorted posix relative paths."""
    d = Path(bundle_dir)
    own = {MANIFEST, DIGEST, MANIFEST + ".tmp", DIGEST + ".tmp"}
    return sorted(rel for rel in (p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()) if rel not in own)


def verify_files(bundle_dir: PathLike, doc: Mapping[str, Any]) -> None:
    """Refuse missing, changed, or unlisted files; the message names the file."""
    d = Path(bundle_dir)
    listed = {str(k): str(v) for k, v in doc["files"].items()}
    for name in required_files(doc):
        if name not in listed:
            raise BundleError(f"{d / MANIFEST}: required file {name} is not listed under files")
    for name, digest in sorted(listed.items()):
        p = Path(inside(str(d), name, f"{d / MANIFEST}: files key", BundleError))
        if not p.is_file():
            raise BundleError(f"{p}: listed in the manifest but missing from the bundle")
        if sha256_file(p) != digest.lower():
            raise BundleError(f"{p}: sha256 does not match the manifest (file changed)")
    extra = [f for f in bundle_files(d) if f not in listed]
    if extra:
        raise BundleError(f"{d / extra[0]}: file is not listed in the manifest"
                          + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def check_part(bundle: Union[Bundle, Mapping[str, Any]], part: str) -> None:
    """Refuse a bundle built for a part other than ``part`` (case-insensitive)."""
    doc = bundle.manifest if isinstance(bundle, Bundle) else bundle
    built = str(doc["part"])
    if built.lower() != str(part).lower():
        raise BundleError(f"bundle {doc['name']!r} was built for part {built} ({doc['board']}), "
                          f"this board is {part}")


def load_bundle(bundle_dir: PathLike, part: Optional[str] = None, verify: bool = True) -> Bundle:
    """Read, validate and (by default) hash-verify a bundle; check its part when given."""
    d = Path(bundle_dir).resolve()
    if verify:
        verify_manifest_digest(d)
    doc = read_manifest(d)
    if verify:
        verify_files(d, doc)
    if part is not None:
        check_part(doc, part)
    return Bundle(d, doc)


def float_golden_input(spec: IoSpec, golden_input: np.ndarray, seed: int = 0) -> Optional[np.ndarray]:
    """Floats that ``spec`` quantizes back to ``golden_input`` exactly: the dequantized golden
    input plus sub-LSB offsets (integer I/O), or the decoded FP8 codes; None when no such
    round trip exists (then the float path cannot be checked from the integer vectors)."""
    if spec.fp8:
        x = spec.dequantize(golden_input)
    else:
        jitter = np.random.default_rng(seed).uniform(-FLOAT_JITTER, FLOAT_JITTER, size=golden_input.shape)
        x = (golden_input.astype(np.float64) + jitter) * 2.0 ** -spec.frac
    if not np.all(np.isfinite(x)) or not np.array_equal(spec.quantize(x), golden_input):
        return None
    return x


def _add_float_golden(d: Path, doc: Dict[str, Any]) -> None:
    """Derive ``golden.float_input`` from the integer golden input and ``io.input`` (once: a
    re-written manifest keeps the one derived with the generator's quantizer)."""
    g = doc.get("golden")
    if not isinstance(g, dict) or "input" not in g or "float_input" in g or not (d / g["input"]).is_file():
        return
    spec = IoSpec.from_dict(doc["io"]["input"], f"{d / MANIFEST}: io.input")
    x = float_golden_input(spec, np.load(d / g["input"], allow_pickle=False))
    if x is not None:
        np.save(d / FLOAT_INPUT, x)
        doc["golden"] = {**g, "float_input": FLOAT_INPUT}


def write_manifest(bundle_dir: PathLike, manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest.yaml`` with ``files:`` set to the sha256 of every other file in the bundle,
    and ``manifest.sha256`` beside it.

    Fills in ``format`` and the default register map when absent, and the float golden input
    (:func:`float_golden_input`) when the manifest has none; validates the result and checks
    that the files its kind needs exist. Returns the manifest's path.
    """
    d = Path(bundle_dir)
    doc: Dict[str, Any] = {"format": FORMAT, **dict(manifest)}
    doc.setdefault("registers", dict(DEFAULT_REGISTERS))
    validate_manifest(doc, str(d / MANIFEST), need_files=False)
    _add_float_golden(d, doc)
    doc["files"] = {f: sha256_file(d / f) for f in bundle_files(d)}
    validate_manifest(doc, str(d / MANIFEST))
    missing = [f for f in required_files(doc) if f not in doc["files"]]
    if missing:
        raise BundleError(f"{d / missing[0]}: required by a {doc['kind']} bundle but not present")
    path = d / MANIFEST
    text = yaml.safe_dump(plain(doc), sort_keys=False).encode()
    digest = hashlib.sha256(text).hexdigest()
    for name, data in ((MANIFEST, text), (DIGEST, f"{digest}  {MANIFEST}\n".encode())):
        tmp = d / (name + ".tmp")  # an interrupted write leaves a pair that does not match: refused
        tmp.write_bytes(data)
        tmp.replace(d / name)
    return path

