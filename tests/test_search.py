"""The filter language: parsing, errors that point at the token, and a property: the compiled
polars filter keeps exactly the rows a plain Python evaluation of the same filter keeps."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lakeledger.projections.search import FilterError, parse, search

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def frame(runs: list[dict]) -> pl.DataFrame:
    """Rows shaped like the runs view: JSON text for params/metrics/tags."""
    return pl.DataFrame(
        {
            "run_id": [r["run_id"] for r in runs],
            "status": [r["status"] for r in runs],
            "name": [r["name"] for r in runs],
            "started_at": [r["started_at"] for r in runs],
            "params": [msgspec.json.encode(r["params"]).decode() for r in runs],
            "metrics": [msgspec.json.encode(r["metrics"]).decode() for r in runs],
            "tags": [msgspec.json.encode(r["tags"]).decode() for r in runs],
            "artifacts": [r.get("artifacts", []) for r in runs],
        },
        schema={
            "run_id": pl.String,
            "status": pl.String,
            "name": pl.String,
            "started_at": pl.Datetime("us", "UTC"),
            "params": pl.String,
            "metrics": pl.String,
            "tags": pl.String,
            "artifacts": pl.List(pl.String),
        },
    )


RUNS = [
    {
        "run_id": "a",
        "status": "success",
        "name": "churn-1",
        "started_at": T0,
        "params": {"lr": 0.05, "opt": "adam"},
        "metrics": {"auc": 0.95, "val loss": 0.2},
        "tags": {"team": "risk"},
        "artifacts": ["model"],
    },
    {
        "run_id": "b",
        "status": "failed",
        "name": "Churn-2",
        "started_at": T0 + timedelta(hours=1),
        "params": {"lr": "0.05"},
        "metrics": {"auc": 0.85},
        "tags": {"team": "x"},
    },
    {
        "run_id": "c",
        "status": "success",
        "name": "fraud",
        "started_at": T0 + timedelta(hours=2),
        "params": {"lr": 0.1},
        "metrics": {},
        "tags": {},
    },
]


def ids(text: str, **options: object) -> list[str]:
    return search(frame(RUNS), text, aliases={"run_name": "name"}, **options)["run_id"].to_list()  # type: ignore[arg-type]


def test_mlflow_syntax() -> None:
    assert ids("metrics.auc > 0.9") == ["a"]
    assert ids(
        "metrics.auc > 0.9 and params.lr = '0.05' and tags.team != 'x' and "
        "attributes.status = 'success'"
    ) == ["a"]
    # params compare as text with text, as numbers with numbers (0.05 and "0.05" both match)
    assert ids("params.lr = '0.05'") == ["a", "b"]
    assert ids("params.lr >= 0.07") == ["c"]
    assert ids("tags.team IN ('risk', 'x')") == ["a", "b"]
    assert ids("tags.team NOT IN ('risk')") == ["b"]
    assert ids("name LIKE 'churn%'") == ["a"]
    assert ids("attributes.run_name ILIKE 'churn-_'") == ["a", "b"]
    assert ids("metrics.`val loss` < 0.5") == ["a"]
    assert ids('metrics."val loss" < 0.5') == ["a"]
    assert ids("metrics.auc IS NULL") == ["c"]
    assert ids('tags.team IS NOT NULL and status = "success"') == ["a"]
    assert ids("started_at >= '2025-03-01T01:00:00Z'") == ["b", "c"]
    assert ids("artifacts = 'model'") == ["a"]
    assert ids("") == ["a", "b", "c"]


def test_or_parentheses_order_limit_columns() -> None:
    assert ids("metrics.auc > 0.9 OR tags.team = 'x'") == ["a", "b"]
    assert ids("(metrics.auc > 0.9 or tags.team = 'x') and status = 'failed'") == ["b"]
    assert ids("metrics.auc > 0.9 or (tags.team = 'x' and status = 'failed')") == ["a", "b"]
    assert ids("", order_by="metrics.auc DESC") == ["a", "b", "c"]  # missing values last
    assert ids("", order_by="metrics.auc ASC") == ["b", "a", "c"]
    assert ids("", order_by=["status", "started_at DESC"]) == ["b", "c", "a"]
    assert ids("", order_by="metrics.auc DESC", limit=1) == ["a"]
    out = search(frame(RUNS), "status = 'success'", columns="run_id, metrics.auc, params.lr")
    assert out.columns == ["run_id", "metrics.auc", "params.lr"]
    assert out.rows() == [("a", 0.95, "0.05"), ("c", None, "0.1")]


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("metrics.auc > ", 15, "expected a value"),
        ("metrics.auc > 0.9 and", 22, "expected a field"),
        ("metrics.auc >> 1", 14, "expected a value"),
        ("(metrics.auc > 1", 17, "')'"),
        ("metrics.auc > 1 tags.x = 'y'", 17, "expected AND, OR"),
        ("metric.auc = 'high'", 12, "is a number"),
        ("foo.bar = 1", 1, "unknown prefix 'foo'"),
        ("colour = 'red'", 1, "unknown field 'colour'"),
        ("name LIKE 3", 11, "quoted pattern"),
        ("status = success", 10, "expected a value"),
        ("status = 'a' # x", 14, "unexpected character '#'"),
        ("status ~ 'a'", 8, "unexpected character '~'"),
    ],
)
def test_errors_point_at_the_token(text: str, column: int, words: str) -> None:
    with pytest.raises(FilterError) as err:
        search(frame(RUNS), text)
    message = str(err.value)
    assert words in message and f"at column {column}:" in message, message
    text_line, caret_line = message.splitlines()[1:3]
    assert caret_line.index("^") - 2 == column - 1 and text_line.strip() == text.strip()


def test_order_and_column_errors() -> None:
    with pytest.raises(FilterError, match="--order-by: expected ASC, DESC"):
        search(frame(RUNS), "", order_by="metrics.auc DOWN")
    with pytest.raises(FilterError, match="--columns: unknown field 'nope'"):
        search(frame(RUNS), "", columns="run_id,nope")


# -- the property ------------------------------------------------------------------------------
KEYS = ["auc", "loss", "val loss"]
TEXTS = ["risk", "x", "Risk", "churn", "0.05", "a_b", "50%"]

run_strategy = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["success", "failed", "running"]),
        "name": st.sampled_from(["churn-1", "Churn-22", "fraud", "a_b", "50% off"]),
        "params": st.dictionaries(
            st.sampled_from(["lr", "opt"]),
            st.one_of(st.sampled_from([0.05, 0.1, 1, 2.5]), st.sampled_from(TEXTS)),
        ),
        "metrics": st.dictionaries(
            st.sampled_from(KEYS), st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 2))
        ),
        "tags": st.dictionaries(st.sampled_from(["team", "env"]), st.sampled_from(TEXTS)),
    }
)


def _quote(key: str) -> str:
    return f"`{key}`" if not re.fullmatch(r"\w+", key) else key


def _number_text(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _param_text(value: object) -> str:
    return value if isinstance(value, str) else _number_text(value)  # type: ignore[arg-type]


OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _like(pattern: str, text: str, insensitive: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.S | (re.I if insensitive else 0)) is not None


@st.composite
def comparison(draw: st.DrawFn) -> tuple[str, object]:
    """(filter text, python predicate over a run dict)."""
    which = draw(
        st.sampled_from(
            ["metric", "param_num", "param_text", "tag", "status", "like", "in", "null"]
        )
    )
    op = draw(st.sampled_from(list(OPS)))
    if which == "metric":
        key, value = draw(st.sampled_from(KEYS)), round(draw(st.floats(-2, 2, allow_nan=False)), 2)
        return (
            f"metrics.{_quote(key)} {op} {value!r}",
            lambda r: key in r["metrics"] and OPS[op](r["metrics"][key], value),
        )
    if which == "param_num":
        value = draw(st.sampled_from([0.05, 0.1, 1.0, 2]))

        def num(r: dict) -> bool:
            try:
                return "lr" in r["params"] and OPS[op](float(_param_text(r["params"]["lr"])), value)
            except ValueError:
                return False

        return f"params.lr {op} {value}", num
    if which == "param_text":
        value = draw(st.sampled_from(TEXTS))
        return (
            f"params.opt {op} '{value}'",
            lambda r: "opt" in r["params"] and OPS[op](_param_text(r["params"]["opt"]), value),
        )
    if which == "tag":
        value = draw(st.sampled_from(TEXTS))
        eq = draw(st.sampled_from(["=", "!="]))
        return (
            f"tags.team {eq} '{value}'",
            lambda r: "team" in r["tags"] and OPS[eq](r["tags"]["team"], value),
        )
    if which == "status":
        value = draw(st.sampled_from(["success", "failed"]))
        return f"attributes.status = '{value}'", lambda r: r["status"] == value
    if which == "like":
        pattern = draw(st.sampled_from(["churn%", "%a_b%", "50%", "_ra%", "%", "CHURN-__"]))
        insensitive = draw(st.booleans())
        word = "ILIKE" if insensitive else "LIKE"
        return f"name {word} '{pattern}'", lambda r: _like(pattern, r["name"], insensitive)
    if which == "in":
        values = draw(st.lists(st.sampled_from(TEXTS), min_size=1, max_size=3))
        listed = ", ".join(f"'{v}'" for v in values)
        return f"tags.env IN ({listed})", lambda r: r["tags"].get("env") in values
    negate = draw(st.booleans())
    return (f"tags.env IS {'NOT ' if negate else ''}NULL", lambda r: ("env" in r["tags"]) == negate)


@st.composite
def filters(draw: st.DrawFn, depth: int = 2) -> tuple[str, object]:
    if depth == 0 or draw(st.booleans()):
        return draw(comparison())
    items = draw(st.lists(filters(depth - 1), min_size=2, max_size=3))
    op = draw(st.sampled_from(["and", "OR"]))
    text = f" {op} ".join(f"({t})" for t, _ in items)
    preds = [p for _, p in items]
    if op == "and":
        return text, lambda r: all(p(r) for p in preds)  # type: ignore[operator]
    return text, lambda r: any(p(r) for p in preds)  # type: ignore[operator]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs=st.lists(run_strategy, max_size=25), flt=filters())
def test_compiled_filter_equals_python_evaluation(
    runs: list[dict], flt: tuple[str, object]
) -> None:
    text, predicate = flt
    for i, r in enumerate(runs):
        r["run_id"], r["started_at"] = f"r{i:03}", T0
    got = search(frame(runs), text)["run_id"].to_list()
    want = [r["run_id"] for r in runs if predicate(r)]  # type: ignore[operator]
    assert got == want, text


def test_parse_is_total_on_garbage() -> None:
    """Anything a user types either parses or raises FilterError (never another exception)."""

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="metrics.auc><=!'\"`()andor INLIKE0123456789 ,%_", max_size=40))
    def check(text: str) -> None:
        with contextlib.suppress(FilterError):
            parse(text)

    check()


# -- the same property through the runs view's typed state (the path ledger.search_runs takes) --
def _state_of(runs: list[dict]) -> tuple[dict[str, pl.DataFrame], list[str]]:
    """The runs view's state for ``runs`` (events encoded as the store writes them), and the
    run ids given to ``runs`` in order."""
    import pyarrow as pa
    from lakeledger.projections.engine.state import prepare, reduce
    from lakeledger.projections.views.runs import PARTS
    from lakeledger.store import codec
    from lakeledger.store import events as ev
    from lakeledger.store.identity import Writer

    events: list[ev.Event] = []
    run_ids = []
    for r in runs:
        started = ev.RunStarted(
            job="train", experiment="e", name=r["name"], params=r["params"], tags=r["tags"],
            occurred_at=T0,
        )
        run_ids.append(started.run_id)
        events.append(started)
        events += [
            ev.MetricLogged(run_id=started.run_id, key=k, value=v) for k, v in r["metrics"].items()
        ]
        if r["status"] != "running":
            events.append(ev.RunFinished(run_id=started.run_id, status=r["status"]))
    writer = Writer(user="t", host="t", pid=1, version="t")
    table = codec.encode(events, version=1, recorded_at=T0, writer=writer, batch_id="b")
    log = pl.from_arrow(pa.concat_tables([table])).lazy()  # type: ignore[union-attr]
    return reduce(PARTS, prepare(log)), run_ids


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    runs=st.lists(run_strategy, min_size=1, max_size=12),
    flt=filters(),
    order=st.sampled_from([None, "metrics.auc DESC", "params.opt", "tags.team DESC"]),
)
def test_search_runs_on_typed_state_equals_python_evaluation(
    runs: list[dict], flt: tuple[str, object], order: str | None
) -> None:
    """``search_runs`` (aligned typed maps, masks, scattered sort keys) keeps and orders the
    runs a plain Python evaluation keeps, with MLflow's ordering: nulls last, ties in view
    order; the rows are presented whole."""
    from lakeledger.projections.engine.state import Context
    from lakeledger.projections.views.runs_search import search_runs

    text, predicate = flt
    state, run_ids = _state_of(runs)
    for r, rid in zip(runs, run_ids, strict=True):
        r["run_id"] = rid
    got = search_runs(state, Context(now=T0 + timedelta(hours=1)), text, order_by=order)
    view_order = sorted(runs, key=lambda r: r["run_id"])  # same start time: by id
    want = [r for r in view_order if predicate(r)]  # type: ignore[operator]
    if order is not None:
        field, _, direction = order.partition(" ")
        where, key = field.split(".")

        def value(r: dict) -> object:
            v = r[where].get(key)
            return _param_text(v) if where == "params" and v is not None else v

        present = [r for r in want if value(r) is not None]
        present.sort(key=value, reverse=direction == "DESC")  # type: ignore[arg-type]
        want = present + [r for r in want if value(r) is None]
    assert got["run_id"].to_list() == [r["run_id"] for r in want], text
    assert got.columns[:2] == ["run_id", "experiment"] and got["params"].null_count() == 0
