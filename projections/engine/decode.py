"""Decoding a few payload fields into a typed struct column, fast for flat fields (issue 15).

Metric events are most of a log and their four fields most of a full rebuild's CPU: msgspec
decodes them into just those fields with 1.7x less CPU than polars' ``str.json_decode``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import msgspec
import polars as pl

# Python types of the polars types msgspec decodes straight into columns (others: polars).
_SCALARS: dict[type[pl.DataType], type] = {
    pl.String: str,
    pl.Boolean: bool,
    pl.Int64: int,
    pl.Float64: float,
}


def decode_struct(payload: pl.Expr, typed: Mapping[str, pl.DataType]) -> pl.Expr:
    """``payload.str.json_decode(Struct(typed))``, the same values, faster for flat fields.

    When every field is a scalar, msgspec decodes each payload into a struct of just those
    fields (1.7x less CPU than polars' decoder, measured on metric events: issue 15); a batch
    msgspec refuses (a value of another type) goes to polars, so the result never differs.
    """
    fields = tuple(typed.items())
    dtype = pl.Struct(dict(fields))
    if not all(t.base_type() in _SCALARS for _, t in fields):
        return payload.str.json_decode(dtype)
    return payload.map_batches(
        functools.partial(_decode_batch, fields), return_dtype=dtype, is_elementwise=True
    )


@functools.cache
def _decoder(fields: tuple[tuple[str, pl.DataType], ...]) -> msgspec.json.Decoder[object]:
    spec = [(f, _SCALARS[t.base_type()] | None, None) for f, t in fields]
    return msgspec.json.Decoder(msgspec.defstruct("Payload", spec))


# Payloads decoded per slice: the Python strings and structs of one slice only are alive at a
# time (a whole chunk's would be ~0.5 KB per event of Python heap, which is not given back).
SLICE = 65_536


def _decode_batch(fields: tuple[tuple[str, pl.DataType], ...], payload: pl.Series) -> pl.Series:
    dtype = pl.Struct(dict(fields))
    pieces: list[pl.DataFrame] = []
    try:
        decode = _decoder(fields).decode
        for start in range(0, max(payload.len(), 1), SLICE):
            objs = [decode(p) for p in payload.slice(start, SLICE).to_list()]
            pieces.append(
                pl.DataFrame(
                    [pl.Series(f, [getattr(o, f) for o in objs], dtype=t) for f, t in fields],
                    schema=dict(fields),
                )
            )
    except (msgspec.DecodeError, TypeError, ValueError, OverflowError):
        return payload.str.json_decode(dtype)
    return pl.concat(pieces).to_struct(payload.name)
