"""A drop-in for MLflow's fluent tracking API: ``import lakeledger.mlflow as mlflow``.

Why: a training script written for MLflow should log into the ledger without edits. The common
calls keep MLflow's signatures and semantics: a run stack (``nested=True`` records
``mlflow.parentRunId``), params stored as strings, metrics with step and timestamp, logging
without an active run starts one, runs still active at exit end as FINISHED, ``search_runs``
with MLflow's filter syntax (returning a polars DataFrame with MLflow's column names).
Experiment ids are experiment names. Writes go through the ledger's group-commit buffer;
``end_run`` makes a run durable.

The ledger root comes from ``set_tracking_uri`` or ``$LAKELEDGER_ROOT``.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import polars as pl
from lakeledger import Ledger
from lakeledger import mlflow_search as _search
from lakeledger.store import Run, default_root
from lakeledger.store import events as ev
from lakeledger.store.errors import InvalidInput

DEFAULT_EXPERIMENT = "Default"
_STATUS_IN: dict[str, ev.RunStatus] = {"FINISHED": "success", "FAILED": "failed", "KILLED": "aborted"}

_lock = threading.RLock()
_state: dict[str, Any] = {"uri": None, "ledger": None, "experiment": None}
_stack: list[ActiveRun] = []


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RunInfo:
    run_id: str
    run_name: str | None
    experiment_id: str
    status: str = "RUNNING"
    start_time: int | None = None
    end_time: int | None = None
    lifecycle_stage: str = "active"

    @property
    def artifact_uri(self) -> str:
        """``runs:/<run_id>``: files are content-addressed, so a run names its artifacts."""
        return f"runs:/{self.run_id}"

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass
class ModelVersion:
    name: str
    version: int
    source: str
    run_id: str | None


class ActiveRun:
    """What ``start_run`` returns: ``.info.run_id``; a context manager that ends the run."""

    def __init__(self, run: Run, info: RunInfo) -> None:
        self._run = run
        self.info = info

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        status = "FINISHED" if exc_type is None else "FAILED"
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        if _stack and _stack[-1] is self:
            end_run(status)
        else:
            self._end(status)

    def _end(self, status: str) -> None:
        if status not in _STATUS_IN:
            raise InvalidInput(f"end_run: status {status!r} must be one of {', '.join(_STATUS_IN)}")
        self._run.finish(_STATUS_IN[status])
        self.info.status = status
        self.info.end_time = _now_ms()


# -- where the ledger is ---------------------------------------------------------------------
def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Point at a ledger root (a path, ``file:`` URI or ``s3://...``)."""
    with _lock:
        _close_ledger()
        _state["uri"] = os.fspath(uri)


def get_tracking_uri() -> str:
    return _state["uri"] or default_root()


def _ledger() -> Ledger:
    with _lock:
        if _state["ledger"] is None:
            root = get_tracking_uri()
            if root.startswith("file:") and not root.startswith("file://"):
                root = root[len("file:") :]
            _state["ledger"] = Ledger.open(root)
        return _state["ledger"]


def _close_ledger() -> None:
    if _state["ledger"] is not None:
        _state["ledger"].close()
        _state["ledger"] = None


# -- experiments ------------------------------------------------------------------------------
def _experiments() -> dict[str, ev.ExperimentCreated]:
    found = _ledger().read(kind="experiment.created")
    return {e.experiment: e for e in found if isinstance(e, ev.ExperimentCreated)}


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment active, creating it if needed (ids are names here)."""
    name = experiment_name or experiment_id
    if not name:
        raise InvalidInput("set_experiment: give experiment_name (or experiment_id)")
    known = _experiments()
    if name not in known:
        if experiment_name is None:
            raise InvalidInput(f"set_experiment: no experiment with id {experiment_id!r}")
        _ledger().create_experiment(name)
    _state["experiment"] = name
    return Experiment(name, name, dict(known[name].tags) if name in known else {})


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    if name in _experiments():
        raise InvalidInput(f"create_experiment: experiment {name!r} already exists")
    _ledger().create_experiment(name, {k: str(v) for k, v in (tags or {}).items()})
    return name


def get_experiment_by_name(name: str) -> Experiment | None:
    e = _experiments().get(name)
    return Experiment(name, name, dict(e.tags)) if e else None


# -- runs -------------------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start (or, with ``run_id``, resume) a run and make it the active one."""
    with _lock:
        if _stack and not nested:
            raise InvalidInput(
                f"Run with UUID {_stack[-1].info.run_id} is already active. To start a nested run, "
                "call start_run with nested=True"
            )
        ledger = _ledger()
        experiment = experiment_id or _state["experiment"] or DEFAULT_EXPERIMENT
        parent = parent_run_id or (_stack[-1].info.run_id if _stack and nested else None)
        if run_id is not None:
            started = [e for e in ledger.read(kind="run.started", stream=f"run/{run_id}")]
            if not started:
                raise InvalidInput(f"start_run: no run with id {run_id!r} to resume")
            first = started[0]
            assert isinstance(first, ev.RunStarted)
            info = RunInfo(run_id, first.name, first.experiment or experiment, start_time=_now_ms())
            active = ActiveRun(Run(ledger, run_id), info)
        else:
            if experiment not in _experiments():
                ledger.create_experiment(experiment)
            all_tags = {k: str(v) for k, v in (tags or {}).items()}
            if run_name:
                all_tags["mlflow.runName"] = run_name
            if parent:
                all_tags["mlflow.parentRunId"] = parent
            if description:
                all_tags["mlflow.note.content"] = description
            run = ledger.run(experiment=experiment, name=run_name, tags=all_tags, parent_run_id=parent)
            active = ActiveRun(run, RunInfo(run.run_id, run_name, experiment, start_time=_now_ms()))
        _stack.append(active)
        return active


def end_run(status: str = "FINISHED") -> None:
    """End the active run (the innermost, for nested runs); a no-op without one."""
    with _lock:
        if _stack:
            run = _stack.pop()
            run._end(status)
            _state["last"] = run


def active_run() -> ActiveRun | None:
    return _stack[-1] if _stack else None


def last_active_run() -> ActiveRun | None:
    return _state.get("last")


def _current() -> Run:
    if not _stack:
        start_run()  # MLflow starts a run when something is logged without one
    return _stack[-1]._run


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """MLflow keeps params as strings; so does this."""
    _current().log_param(key, str(value))
    return value


def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    run = _current()
    for key, value in params.items():
        run.log_param(key, str(value))


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    **_: Any,
) -> None:
    run = _current()
    at = datetime.fromtimestamp(timestamp / 1000, UTC) if timestamp is not None else ev.utcnow()
    run.ledger.emit(
        ev.MetricLogged(run_id=run.run_id, key=key, value=float(value), step=step or 0, occurred_at=at)
    )


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    **_: Any,
) -> None:
    for key, value in metrics.items():
        log_metric(key, value, step, timestamp=timestamp)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    _current().set_tag(key, str(value))


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    run = _current()
    for key, value in tags.items():
        run.set_tag(key, str(value))


def log_artifact(local_path: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Copy a file into the ledger's content-addressed store, named ``artifact_path/<file>``."""
    run = _current()
    base = os.path.basename(os.path.normpath(local_path))
    run.log_artifact(local_path, f"{artifact_path.strip('/')}/{base}" if artifact_path else base)


def log_artifacts(local_dir: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Every file under ``local_dir``, named by its path relative to it."""
    if not os.path.isdir(local_dir):
        raise InvalidInput(f"log_artifacts: {local_dir!r} is not a directory")
    run = _current()
    for folder, _dirs, files in sorted(os.walk(local_dir)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, local_dir).replace(os.sep, "/")
            run.log_artifact(path, f"{artifact_path.strip('/')}/{rel}" if artifact_path else rel)


# -- models and search ------------------------------------------------------------------------
def register_model(
    model_uri: str, name: str, await_registration_for: int = 0, *, tags: dict[str, Any] | None = None
) -> ModelVersion:
    """Register the next version of ``name``; ``runs:/<run_id>/...`` links it to that run."""
    run_id = model_uri[len("runs:/") :].split("/", 1)[0] if model_uri.startswith("runs:/") else None
    ledger = _ledger()
    ledger.flush()
    version = ledger.register_model_version(
        name, artifact_uri=model_uri, run_id=run_id, tags={k: str(v) for k, v in (tags or {}).items()}
    )
    return ModelVersion(name, version, model_uri, run_id)


def search_runs(
    experiment_ids: list[str] | None = None,
    filter_string: str = "",
    run_view_type: int | None = None,
    max_results: int = 100_000,
    order_by: list[str] | None = None,
    output_format: str = "polars",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
) -> pl.DataFrame:
    """Runs as a polars DataFrame with MLflow's columns (``metrics.x``, ``params.p``, ``tags.t``);
    the filter is lakeledger's filter language: MLflow's syntax, plus OR and parentheses."""
    ledger = _ledger()
    ledger.flush()
    wanted = experiment_ids or experiment_names
    if not wanted and not search_all_experiments:
        wanted = [_state["experiment"] or DEFAULT_EXPERIMENT]
    experiments = None if search_all_experiments else wanted
    return _search.search_runs(ledger, experiments, filter_string, order_by, max_results)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@atexit.register
def _end_at_exit() -> None:
    """Like MLflow: runs still active when the script exits end as FINISHED."""
    while _stack:
        try:
            end_run("FINISHED")
        except Exception:  # noqa: BLE001 - exit must go on; the buffer's own hook reports
            _stack.clear()
    if _state["ledger"] is not None:
        _state["ledger"].close()
