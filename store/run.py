"""A run: the unit a training script, pipeline task or CI job reports on.

``run.started`` is committed at once (so a crashed run is still visible, with the pid and host
that ran it); params, metrics and tags go through the ledger's group-commit buffer; artifacts
and ``run.finished`` flush it, so whatever a run reports is durable when it ends.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .events import (
    ArtifactRegistered,
    MetricLogged,
    ParamLogged,
    RunFinished,
    RunStatus,
    Scalar,
    TagSet,
)

if TYPE_CHECKING:
    from .ledger import Ledger


class Run:
    """A started run: log params, metrics, tags and artifacts to it; ``finish`` (or leaving the
    ``with`` block) records how it ended."""

    def __init__(self, ledger: Ledger, run_id: str) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.finished = False

    def log_param(self, key: str, value: Scalar) -> None:
        """Log a param (its JSON type is kept: 0.05 stays a number); buffered."""
        self.ledger.emit(ParamLogged(run_id=self.run_id, key=key, value=value))

    def log_params(self, params: dict[str, Scalar]) -> None:
        """``log_param`` for each item."""
        for key, value in params.items():
            self.log_param(key, value)

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """Log one metric point (every point is kept: ``ledger.metric_history``); buffered."""
        # numpy/torch scalars become floats; text never does: metrics stay numbers
        number = value if isinstance(value, str | bytes) else float(value)
        self.ledger.emit(MetricLogged(run_id=self.run_id, key=key, value=number, step=step))

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        """``log_metric`` for each item, at one step."""
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    def set_tag(self, key: str, value: str) -> None:
        """Set a tag (text; the last value wins in views); buffered."""
        self.ledger.emit(TagSet(run_id=self.run_id, key=key, value=str(value)))

    def register_artifact(self, name: str, uri: str, **fields: Any) -> ArtifactRegistered:
        """Register an artifact produced by this run (durable on return)."""
        return self.ledger.register_artifact(name, uri, run_id=self.run_id, **fields)

    def log_artifact(
        self, path: str | os.PathLike[str], name: str | None = None, **fields: Any
    ) -> ArtifactRegistered:
        """Copy a local file into the ledger's artifact store, registered for this run."""
        self.ledger.flush()  # keep the run's order: what it logged before comes first
        return self.ledger.log_artifact(path, name, run_id=self.run_id, **fields)

    def finish(self, status: RunStatus = "success", error: str | None = None) -> None:
        """Record how the run ended and flush everything it logged (idempotent)."""
        if self.finished:
            return
        self.ledger.emit(RunFinished(run_id=self.run_id, status=status, error=error))
        self.ledger.flush()
        self.finished = True

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish("success")
        elif issubclass(exc_type, KeyboardInterrupt | SystemExit):
            self.finish("aborted", f"{exc_type.__name__}: {exc}")
        else:
            self.finish("failed", f"{exc_type.__name__}: {exc}")
