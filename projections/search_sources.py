"""The values of a view's maps (``metrics``, ``params``, ``tags``) as typed rows a search reads.

A view shows a run's metrics as one JSON object per row; comparing ``metrics.auc > 0.9`` by
parsing that text for 100k runs was the slow part of a search. A ``Source`` gives the map as
``(id, key, value)`` rows instead (a comparison is evaluated over its key's rows, then a
membership test of the id); an ``Aligned`` one has the rows numbered as the searched frame's,
so the membership test is a scatter into a mask: no string id hashed per query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class Source:
    """The values of one map (``metrics``...) as rows: ``id`` (the view's key column), ``key``
    and the ``value`` column; one row per (id, key), as a view's state part has."""

    frame: pl.DataFrame
    id: str
    value: str

    def column(self, key: str, alias: str) -> pl.LazyFrame:
        return (
            self.frame.lazy()
            .filter(pl.col("key") == key)
            .select(self.id, pl.col(self.value).alias(alias))
        )


@dataclass(frozen=True)
class Aligned:
    """A map's values aligned to the searched frame's rows: ``frame`` has ``row`` (the row
    number in that frame, which has ``height`` rows), ``key`` and the ``value`` column (other
    columns may ride along, e.g. for presenting). A comparison then costs its key's rows and a
    scatter into a boolean mask: no hashing of string ids (the costly part of a search over
    100k runs), no join. Built once per state (``align``); a key's rows are cut out once, when
    a search first names it. ``frame`` may be lazy (a scan of a stored index) with ``spans``:
    its rows sorted by key, ``key -> (offset, length)``, so a key costs a slice of the file."""

    frame: pl.DataFrame | pl.LazyFrame
    height: int
    value: str = "value"
    spans: Mapping[str, tuple[int, int]] | None = None
    _keys: dict[str, pl.DataFrame] = field(default_factory=dict, compare=False)

    @property
    def dtype(self) -> pl.DataType:
        return self.frame.collect_schema()[self.value]

    def whole(self) -> pl.DataFrame:
        """All rows, read once (a lazy scan filtered per use was 10x slower than reading it)."""
        found = self._keys.get("\x00whole")
        if found is None:
            found = self._keys["\x00whole"] = self.frame.lazy().collect()
        return found

    def rows(self, key: str) -> pl.DataFrame:
        found = self._keys.get(key)
        if found is None:
            if self.spans is not None:
                offset, length = self.spans.get(key, (0, 0))
                cut = self.frame.lazy().slice(offset, length)
            else:
                cut = self.frame.lazy().filter(pl.col("key") == key)
            found = self._keys[key] = cut.select("row", self.value).collect()
        return found

    def mask(self, rows: pl.Series) -> pl.Expr:
        """True at ``rows``, false elsewhere, as a literal over the searched frame."""
        return pl.lit(pl.zeros(self.height, pl.Boolean, eager=True).scatter(rows, True))

    def series(self, key: str, name: str) -> pl.Series:
        """The key's values at their rows, null where a row has none."""
        rows = self.rows(key)
        out = pl.Series(name, [], dtype=self.dtype).extend_constant(None, self.height)
        return out.scatter(rows["row"], rows[self.value]) if rows.height else out


def align(frame: pl.DataFrame, ids: pl.Series, id: str, value: str) -> Aligned:
    """``(id, key, value, ...)`` rows of a map as an ``Aligned`` source for a frame whose ``id``
    column is ``ids`` (rows whose id is not there are dropped; columns other than ``id`` kept,
    ``row`` first)."""
    rows = pl.DataFrame({id: ids}).with_row_index("row")
    others = [c for c in frame.columns if c != id]
    out = (
        frame.lazy()
        .join(rows.lazy(), on=id, how="inner")
        .select("row", *others)
        .collect()
    )
    return Aligned(out, len(ids), value)
