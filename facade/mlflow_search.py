"""``search_runs`` for the MLflow drop-in: runs in MLflow's wide shape, and its filter syntax.

The filter here is a minimal translation of MLflow's search grammar (comparisons joined by
``AND``: ``metrics.auc > 0.9 and params.lr = '0.05' and tags.team != 'x' and
attributes.status = 'FINISHED'``, with ``LIKE``/``ILIKE``/``IN``), compiled to polars
expressions. It stands in until lakeledger's shared filter language is merged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import polars as pl
from lakeledger.store import Ledger
from lakeledger.store.errors import InvalidInput

_STATUS_OUT = {"success": "FINISHED", "failed": "FAILED", "aborted": "KILLED"}
_KINDS = ["run.started", "run.param_logged", "run.metric_logged", "run.tag_set", "run.finished"]
_ATTRS = {
    "status": "status",
    "run_name": "tags.mlflow.runName",
    "run_id": "run_id",
    "start_time": "start_time",
    "end_time": "end_time",
    "experiment_id": "experiment_id",
}


def runs_frame(ledger: Ledger, experiments: Sequence[str] | None) -> pl.DataFrame:
    """One row per run: run_id, experiment_id, status, start/end time, metrics.*, params.*, tags.*."""
    events = ledger.events(kind=_KINDS).select("kind", "stream", "occurred_at", "payload").collect()
    rows: dict[str, dict[str, Any]] = {}
    latest: dict[tuple[str, str], tuple[int, Any]] = {}
    for kind, _stream, at, payload in events.iter_rows():
        data = _decode(payload)
        rid = data["run_id"]
        if kind == "run.started":
            rows[rid] = {
                "run_id": rid,
                "experiment_id": data.get("experiment"),
                "status": "RUNNING",
                "start_time": at,
                "end_time": None,
                **{f"params.{k}": _str(v) for k, v in (data.get("params") or {}).items()},
                **{f"tags.{k}": v for k, v in (data.get("tags") or {}).items()},
            }
            continue
        row = rows.get(rid)
        if row is None:
            continue
        if kind == "run.param_logged":
            row[f"params.{data['key']}"] = _str(data["value"])
        elif kind == "run.tag_set":
            row[f"tags.{data['key']}"] = data["value"]
        elif kind == "run.finished":
            row["status"] = _STATUS_OUT.get(data["status"], data["status"])
            row["end_time"] = at
        else:  # MLflow's latest value: highest step, then latest timestamp
            order = (data.get("step", 0), at)
            key = (rid, data["key"])
            if key not in latest or order >= latest[key][0]:
                latest[key] = (order, data["value"])
    for (rid, key), (_, value) in latest.items():
        rows[rid][f"metrics.{key}"] = float(value)
    found = [r for r in rows.values() if experiments is None or r["experiment_id"] in experiments]
    base = {
        "run_id": pl.String,
        "experiment_id": pl.String,
        "status": pl.String,
        "start_time": pl.Datetime("us", "UTC"),
        "end_time": pl.Datetime("us", "UTC"),
    }
    if not found:
        return pl.DataFrame(schema=base)
    frame = pl.DataFrame(found, infer_schema_length=None)
    extra = sorted(c for c in frame.columns if c not in base)
    return frame.select(*base, *extra)


def _decode(payload: str) -> dict[str, Any]:
    import msgspec

    return msgspec.json.decode(payload)


def _str(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


_CLAUSE = re.compile(
    r"""\s*(?P<ident>(?:[A-Za-z_]+)\.(?:`[^`]+`|"[^"]+"|[\w.\-/]+)|[A-Za-z_]+)\s*
        (?P<op>!=|>=|<=|=|>|<|\bNOT\s+ILIKE\b|\bNOT\s+LIKE\b|\bILIKE\b|\bLIKE\b|\bNOT\s+IN\b|\bIN\b)\s*
        (?P<value>'(?:[^']|'')*'|"[^"]*"|\([^)]*\)|-?[\d.]+(?:[eE][-+]?\d+)?)\s*""",
    re.I | re.X,
)
_AND = re.compile(r"\s*\bAND\b\s*", re.I)


def compile_filter(text: str, columns: Sequence[str]) -> pl.Expr:
    """Clauses joined by AND -> one polars expression; errors point at the failing position."""
    exprs: list[pl.Expr] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _CLAUSE.match(text, pos)
        if not m:
            raise InvalidInput(
                f"filter: cannot parse at character {pos + 1}: {text[pos : pos + 30]!r}; "
                "expected e.g. metrics.auc > 0.9 or params.lr = '0.05'"
            )
        exprs.append(_clause(m["ident"], m["op"], m["value"], columns))
        pos = m.end()
        if pos < len(text.rstrip()):
            a = _AND.match(text, pos)
            if not a:
                raise InvalidInput(f"filter: expected AND at character {pos + 1}: {text[pos : pos + 30]!r}")
            pos = a.end()
    return pl.all_horizontal(exprs) if exprs else pl.lit(True)


def _clause(ident: str, op: str, raw: str, columns: Sequence[str]) -> pl.Expr:
    entity, _, key = ident.partition(".")
    entity = entity.lower()
    key = key.strip('`"')
    prefixes = {
        "metric": "metrics",
        "metrics": "metrics",
        "param": "params",
        "params": "params",
        "parameter": "params",
        "parameters": "params",
        "tag": "tags",
        "tags": "tags",
    }
    if entity in prefixes:
        column = f"{prefixes[entity]}.{key}"
    elif entity in ("attribute", "attributes", "attr", "run") or not key:
        name = key or entity
        if name not in _ATTRS:
            raise InvalidInput(f"filter: unknown attribute {name!r}; use one of {', '.join(_ATTRS)}")
        column = _ATTRS[name]
    else:
        raise InvalidInput(f"filter: {ident!r} must start with metrics., params., tags. or attributes.")
    op = " ".join(op.upper().split())
    if column not in columns:
        return pl.lit(False)  # like MLflow: a run without the key never matches
    col = pl.col(column)
    value: Any
    if raw.startswith("("):
        value = [v.strip().strip("'\"") for v in raw[1:-1].split(",") if v.strip()]
    elif raw[0] in "'\"":
        value = raw[1:-1].replace("''", "'")
    else:
        value = float(raw)
    if column.startswith("metrics.") and not isinstance(value, float | list):
        raise InvalidInput(f"filter: metric {key!r} compares with a number, got {raw}")
    if column in ("start_time", "end_time") and isinstance(value, float):
        col = col.dt.epoch("ms")
    if op in ("IN", "NOT IN"):
        expr = col.is_in(value)
        return (~expr if op == "NOT IN" else expr).fill_null(False)
    if "LIKE" in op:
        pattern = "^" + re.escape(str(value)).replace("%", ".*").replace("_", ".") + "$"
        expr = col.str.contains(("(?i)" if "ILIKE" in op else "") + pattern)
        return (~expr if op.startswith("NOT") else expr).fill_null(False)
    ops = {
        "=": col.__eq__,
        "!=": col.__ne__,
        ">": col.__gt__,
        "<": col.__lt__,
        ">=": col.__ge__,
        "<=": col.__le__,
    }
    return ops[op](value).fill_null(False)


def apply(
    frame: pl.DataFrame, filter_string: str, order_by: Sequence[str] | None, limit: int
) -> pl.DataFrame:
    if filter_string and filter_string.strip():
        frame = frame.filter(compile_filter(filter_string, frame.columns))
    keys, desc = [], []
    for item in order_by or []:
        parts = item.split()
        name = parts[0]
        if name.startswith(("attribute.", "attributes.")):
            name = _ATTRS.get(name.split(".", 1)[1], name)
        if name not in frame.columns:
            continue
        keys.append(name)
        desc.append(len(parts) > 1 and parts[1].upper() == "DESC")
    keys.append("start_time")
    desc.append(True)
    return frame.sort(keys, descending=desc, nulls_last=True).head(limit)
