"""SQL databases through any DB-API 2 driver; stdlib ``sqlite3`` needs nothing installed.

Incremental by a cursor column: each run selects rows past the last cursor value, ordered by
it, in ``batch_rows`` fetches. A batch never ends between two rows with the same cursor value,
so ``>`` on resume cannot skip any. Without a cursor column every run reads a full snapshot.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator
from typing import Any

import msgspec
import polars as pl
from lakeledger.ingest.extract.records import ORIGIN, ROW
from lakeledger.ingest.extract.sources.base import Batch, Source, SourceError
from lakeledger.store.errors import InvalidInput


class SqlOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str | None = None  # "sqlite:///path/to.db" (or a path); other drivers: driver + dsn
    driver: str | None = None  # DB-API module, e.g. "psycopg"
    dsn: str | None = None
    connect_args: dict[str, Any] = {}
    connect: str | None = None  # "package.module:function" returning a DB-API connection
    table: str | None = None
    query: str | None = None


class SqlSource(Source):
    kind = "sql"
    Options = SqlOptions
    record_identity = "content"  # page URLs and row numbers shift when a run resumes

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        if bool(self.options.table) == bool(self.options.query):
            raise InvalidInput(
                f"source {self.config.name!r}: give exactly one of options.table or options.query"
            )

    def connection(self) -> tuple[Any, str]:
        """An open DB-API connection and the driver's ``paramstyle``."""
        o = self.options
        try:
            if o.connect:
                module, _, attr = o.connect.partition(":")
                mod = importlib.import_module(module)
                return getattr(mod, attr)(**o.connect_args), getattr(mod, "paramstyle", "qmark")
            if o.driver:
                mod = importlib.import_module(o.driver)
                args = [o.dsn] if o.dsn else []
                return mod.connect(*args, **o.connect_args), mod.paramstyle
            if o.url:
                import sqlite3

                path = o.url.removeprefix("sqlite:///").removeprefix("sqlite://")
                path = path.removeprefix("sqlite:")
                uri = path.startswith("file:")
                target = path if uri or path == ":memory:" else self.context.path(path)
                return sqlite3.connect(target, uri=uri, **o.connect_args), sqlite3.paramstyle
        except Exception as exc:  # noqa: BLE001 - any driver error: wrapped
            raise SourceError(
                self.context.redact(f"cannot connect to the database of source {self.config.name!r}: {exc}")
            ) from None
        raise InvalidInput(
            f"source {self.config.name!r}: set options.url (sqlite), "
            "options.driver (+ dsn) or options.connect"
        )

    def statement(self, after: Any, paramstyle: str) -> tuple[str, Any]:
        select = self.options.query or f"SELECT * FROM {self.options.table}"
        sql = f"SELECT * FROM ({select}) AS lakeledger_src"
        column = self.config.cursor
        if not column:
            return sql, ()
        order = f" ORDER BY {column}"
        if after is None:
            return sql + f" WHERE {column} IS NOT NULL" + order, ()
        marker = {
            "qmark": "?",
            "format": "%s",
            "pyformat": "%(c)s",
            "named": ":c",
            "numeric": ":1",
        }[paramstyle]
        params: Any = {"c": after} if paramstyle in ("named", "pyformat") else (after,)
        return sql + f" WHERE {column} > {marker}" + order, params

    def batches(self, cursor: Any) -> Iterator[Batch]:
        state = dict(cursor or {})
        conn, paramstyle = self.connection()
        label = self.options.table or "query"
        try:
            cur = conn.cursor()
            sql, params = self.statement(state.get("value"), paramstyle)
            cur.execute(sql, params)
            names = [d[0] for d in cur.description]
            at = names.index(self.config.cursor) if self.config.cursor in names else None
            skip = int(state.get("skip", 0)) if at is None else 0
            for _ in range(skip):
                if cur.fetchone() is None:
                    break
            row_no = skip
            pending: list[Any] = []
            while True:
                rows = pending + list(cur.fetchmany(max(1, self.config.batch_rows - len(pending))))
                pending = []
                if not rows:
                    break
                if at is not None:  # never split rows sharing a cursor value
                    while True:
                        extra = cur.fetchone()
                        if extra is None:
                            break
                        if extra[at] != rows[-1][at]:
                            pending = [extra]
                            break
                        rows.append(extra)
                frame = _frame(names, rows, label, row_no)
                row_no += len(rows)
                state = {"value": _jsonable(rows[-1][at])} if at is not None else {"skip": row_no}
                yield Batch(
                    cursor=dict(state),
                    origin=label,
                    frame=frame,
                    bytes=sum(len(str(v)) for r in rows for v in r if v is not None),
                )
        except SourceError:
            raise
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in ("polars", "lakeledger"):  # Delta errors come typed
                raise
            raise SourceError(
                self.context.redact(f"query of source {self.config.name!r} failed: {exc}")
            ) from None
        finally:
            conn.close()

    def finish(self, cursor: Any) -> Any:
        return cursor if self.config.cursor else None  # a snapshot starts over next run


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, int | float | str) or value is None else _text(value)


def _frame(names: list[str], rows: list[Any], label: str, first: int) -> pl.DataFrame:
    columns = {n: [_text(r[i]) for r in rows] for i, n in enumerate(names)}
    frame = pl.DataFrame(columns, schema=dict.fromkeys(names, pl.String))
    return frame.with_columns(
        pl.lit(label).alias(ORIGIN),
        pl.int_range(first + 1, first + 1 + len(rows), dtype=pl.Int64).alias(ROW),
    )
