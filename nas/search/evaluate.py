"""Expensive evaluation: QAT training of one candidate, run in a worker process or a Ray task.

A :class:`TrainJob` carries everything a worker needs (topology, dataset name, schedule, the
parent's trained weights for Lamarckian inheritance), and :func:`run_job` returns everything
the driver stores (metrics and the model files as bytes), so workers share no filesystem with
the driver: the same job runs in a local process pool or on a remote Ray node.

Executors: :class:`ProcessExecutor` (``concurrent.futures.ProcessPoolExecutor``, spawn context,
one torch thread per worker) and :class:`RayExecutor` (``ray.remote`` tasks; ``address`` of a
running cluster, connected through :mod:`.ray_cluster` (token authentication, the address used
as given), or ``local`` to start one on this machine). Both hand back
``concurrent.futures.Future`` objects.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from sustainml.errors import SustainmlError

MODEL_FILES = ("model.yaml", "weights.npz")
NET_FILE = "net.pt"


class ExecutorError(SustainmlError, RuntimeError):
    """The evaluation backend cannot be started (e.g. no Ray cluster at the address)."""


@dataclass
class TrainJob:
    id: int
    name: str
    topology: Dict[str, Any]
    dataset: str
    config: Dict[str, Any]  # TrainConfig fields
    parent_topology: Optional[Dict[str, Any]] = None
    parent_state: Optional[bytes] = None  # torch state_dict of the parent's trained (folded) QATNet


_DATASETS: Dict[str, Any] = {}


def _dataset(name: str) -> Any:
    from ..data import load_dataset

    if name not in _DATASETS:
        _DATASETS[name] = load_dataset(name)
    return _DATASETS[name]


def load_trained_net(topology: Any, state: bytes) -> Any:
    """Rebuild a trained (BatchNorm-folded) QATNet from its state dict bytes."""
    import torch

    from ..qat import QATNet

    net = QATNet(topology)
    net.fold_batchnorm()
    net.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    return net


def run_job(job: TrainJob) -> Dict[str, Any]:
    """Train one candidate; returns ``{"id", "metrics", "files": {name: bytes}}``."""
    import torch

    from ..topology import Topology
    from ..train import TrainConfig, train

    torch.set_num_threads(1)
    topo = Topology.from_dict(job.topology, job.name)
    data = _dataset(job.dataset)
    init = None
    if job.parent_state is not None and job.parent_topology is not None:
        init = load_trained_net(Topology.from_dict(job.parent_topology, f"{job.name} parent"), job.parent_state)
    result = train(topo, data, TrainConfig(**job.config), init=init)
    val_int, val_loss = validation_scores(result.model, data)
    result.model.metrics["val_acc_int"] = val_int
    result.model.metrics["val_loss_int"] = val_loss
    result.model.metrics["inherited"] = init is not None
    files: Dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        result.model.save(tmp)
        for f in MODEL_FILES:
            files[f] = (Path(tmp) / f).read_bytes()
    buf = io.BytesIO()
    torch.save(result.net.state_dict(), buf)
    files[NET_FILE] = buf.getvalue()
    metrics = {k: v for k, v in result.model.metrics.items() if k != "config"}
    return {"id": job.id, "metrics": _plain(metrics), "files": files}


def validation_scores(model: Any, data: Any) -> "tuple[float, float]":
    """(accuracy, mean cross-entropy) of the integer model on the validation split; the loss breaks
    accuracy ties among candidates (a handful of validation samples ties many of them)."""
    from .. import golden

    if not len(data.val.y):
        return 0.0, float("inf")
    logits = golden.run(model, model.quantize_input(data.val.x)).astype(np.float64) * 2.0 ** -model.output_frac
    z = logits - logits.max(1, keepdims=True)
    nll = np.log(np.exp(z).sum(1)) - z[np.arange(len(z)), data.val.y]
    return float((logits.argmax(1) == data.val.y).mean()), float(nll.mean())


def _plain(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


class ProcessExecutor:
    """Local process pool (spawn; one torch thread per worker)."""

    name = "process"

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker)

    def submit(self, job: TrainJob) -> "Future[Dict[str, Any]]":
        return self.pool.submit(run_job, job)

    def shutdown(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)

    def describe(self) -> str:
        return f"local process pool, {self.workers} workers"


class RayExecutor:
    """Ray tasks on a running cluster (``address`` HOST:PORT, see :mod:`.ray_cluster`) or on a
    local instance (``local``/None). A task whose node dies is retried on another node (Ray's
    ``max_retries`` covers system failures only; a training that raises is not retried)."""

    name = "ray"
    MAX_RETRIES = 3

    def __init__(self, workers: int, address: Optional[str] = None, token_file: Optional[Path] = None):
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray (pip install 'sustainml[distributed]')") from None
        from .ray_cluster import RayClusterError, connect

        self.ray = ray
        self.address = address or "local"
        if self.address == "local":
            if token_file is not None:
                raise ExecutorError("--ray-token-file needs --address HOST:PORT of a running cluster")
            # "local": always a new instance (without it, ray.init joins the last cluster `ray start` made here)
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR")
        else:
            try:
                connect(self.address, token_file)
            except RayClusterError as exc:
                raise ExecutorError(str(exc)) from None
        self.workers = workers
        self.task = ray.remote(num_cpus=1, max_retries=self.MAX_RETRIES)(run_job_on_ray_node)

    def submit(self, job: TrainJob) -> "Future[Dict[str, Any]]":
        return self.task.remote(job).future()

    def shutdown(self, cancel: bool = False) -> None:
        self.ray.shutdown()

    def describe(self) -> str:
        return f"Ray ({self.address}), {int(self.ray.cluster_resources().get('CPU', 0))} CPUs"


def run_job_on_ray_node(job: TrainJob) -> Dict[str, Any]:
    """:func:`run_job` in a Ray task; the result's metrics name the node that trained it."""
    import ray

    result = run_job(job)
    result["metrics"]["node"] = ray.get_runtime_context().get_node_id()
    return result


def make_executor(kind: str, workers: int, address: Optional[str] = None, token_file: Optional[Path] = None) -> Any:
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, address, token_file)
    raise ExecutorError(f"--executor {kind!r}: expected process or ray")
