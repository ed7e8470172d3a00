"""Free-form payload fields (``Any``, scalar unions, mappings) as text, exactly as polars'
``str.json_path_match`` gives them, for many rows at once.

``json_path_match`` parses the whole payload once per field asked; here one msgspec pass per
row hands over every asked field's JSON text as is (``msgspec.Raw``), and polars is asked only
for the values whose text is not already their answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import msgspec
import polars as pl

# Rows decoded per slice: only one slice's Python strings are alive at a time.
SLICE = 65_536


def free_json(payload: pl.Expr, fields: Sequence[str]) -> pl.Expr:
    """Each free-form field's text exactly as ``payload.str.json_path_match("$.<field>")``
    gives it (strings unquoted, a missing field or null as null), from one msgspec pass.

    msgspec hands each field's JSON text over as is (``Raw``); the values whose text is its
    own ``json_path_match`` answer (null, a string without escapes, a 64-bit integer, true,
    false, ``{}``, ``[]``) are taken from it and only the others (floats, escapes, non-empty
    objects and lists, reformatted by polars) ask polars. json_path_match parses the whole
    payload per field: issue 15, six such fields per run of the benchmark workload were ~2 of
    the 5M-event rebuild's CPU seconds.
    """
    names = tuple(fields)
    return payload.map_batches(
        functools.partial(_free_batch, names),
        return_dtype=pl.Struct(dict.fromkeys(names, pl.String())),
        is_elementwise=True,
    )


_OWN_TEXT = re.compile(rb"0|-?[1-9][0-9]{0,17}|true|false|\{\}|\[\]")


@functools.cache
def _raw_decoder(fields: tuple[str, ...]) -> msgspec.json.Decoder[object]:
    return msgspec.json.Decoder(msgspec.defstruct("Texts", [(f, msgspec.Raw, msgspec.Raw()) for f in fields]))


def _free_batch(fields: tuple[str, ...], payload: pl.Series) -> pl.Series:
    columns: dict[str, list[str | None]] = {f: [] for f in fields}
    asks: dict[str, list[int]] = {f: [] for f in fields}
    decode = _raw_decoder(fields).decode
    own = _OWN_TEXT.fullmatch
    try:
        at = 0
        for start in range(0, payload.len(), SLICE):
            for text in payload.slice(start, SLICE).to_list():
                obj = decode(text) if text is not None else None
                for f in fields:
                    raw = bytes(getattr(obj, f)) if obj is not None else b""
                    if not raw or raw == b"null":
                        columns[f].append(None)
                    elif raw[0] == 0x22 and b"\\" not in raw:
                        columns[f].append(raw[1:-1].decode())
                    elif own(raw):
                        columns[f].append(raw.decode())
                    else:
                        columns[f].append(None)
                        asks[f].append(at)
                at += 1
    except (msgspec.DecodeError, UnicodeDecodeError):
        texts = [payload.str.json_path_match(f"$.{f}").alias(f) for f in fields]
        return pl.DataFrame(texts).to_struct(payload.name)
    out = []
    for f in fields:
        col = pl.Series(f, columns[f], dtype=pl.String)
        if asks[f]:
            rows = pl.Series(asks[f], dtype=pl.get_index_type())
            col = col.scatter(rows, payload.gather(rows).str.json_path_match(f"$.{f}"))
        out.append(col)
    return pl.DataFrame(out).to_struct(payload.name)
