"""sources.toml decoding: errors name the key path, ${ENV} expansion, secrets kept out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lakeledger.ingest.extract.config import ConfigError, load
from lakeledger.ingest.extract.secrets import Secrets

from .ingest_fixtures import write_config

CSV = {"name": "a", "kind": "csv", "options": {"path": "x.csv"}, "schema": {"id": "int"}}


def error_of(tmp_path: Path, sources: list[dict[str, object]], only: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path / "sources.toml", sources), only)
    return str(info.value)


def test_wrong_type_is_reported_with_its_path(tmp_path: Path) -> None:
    sources = [CSV, {**CSV, "name": "b"}, {**CSV, "name": "c", "cursor": 5}]
    message = error_of(tmp_path, sources)
    assert "sources.toml: `sources[2].cursor`: Expected `str | null`, got `int`" in message


def test_unknown_and_missing_keys(tmp_path: Path) -> None:
    assert "`sources[0]`: Object contains unknown field `cursr`" in error_of(
        tmp_path, [{**CSV, "cursr": "x"}]
    )
    assert "`sources[0]`: Object missing required field `kind`" in error_of(tmp_path, [{"name": "a"}])
    assert "`sources[0].options.path`: Expected `str | array`, got `int`" in error_of(
        tmp_path, [{**CSV, "options": {"path": 3}}]
    )
    assert "`sources[0].options`: Object contains unknown field `delimter`" in error_of(
        tmp_path, [{**CSV, "options": {"path": "x", "delimter": ";"}}]
    )


def test_bad_kind_schema_and_columns(tmp_path: Path) -> None:
    assert "`sources[0].kind`: unknown source kind 'excel'" in error_of(tmp_path, [{**CSV, "kind": "excel"}])
    assert "unknown type 'integer'" in error_of(tmp_path, [{**CSV, "schema": {"id": "integer"}}])
    assert "column 'ts'" in error_of(tmp_path, [{**CSV, "cursor": "ts"}])
    assert "defined twice" in error_of(tmp_path, [CSV, CSV])
    assert "invalid TOML" in error_of_text(tmp_path, "[[sources]\nname=")


def error_of_text(tmp_path: Path, text: str) -> str:
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "bad.toml")
    return str(info.value).replace("not valid TOML", "invalid TOML")


def test_env_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "/data")
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    sources = [
        {**CSV, "options": {"path": "${DATA_DIR}/x.csv"}},
        {"name": "gh", "kind": "github", "options": {"repo": "o/r", "token": "${API_TOKEN}"}},
    ]
    loaded = load(write_config(tmp_path / "s.toml", sources))
    assert loaded.source("a").options["path"] == "/data/x.csv"
    assert loaded.source("gh").options["token"] == "s3cr3t-value"
    assert loaded.recorded("gh")["options"]["token"] == "${API_TOKEN}"  # what events may keep
    # masked by value, as the reference it came from (reversible for cursors, reveals nothing)
    assert loaded.redact("failed with s3cr3t-value") == "failed with ${API_TOKEN}"


def test_missing_env_only_matters_for_sources_being_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    sources = [
        CSV,
        {"name": "gh", "kind": "github", "options": {"repo": "o/r", "token": "${NOPE_TOKEN}"}},
    ]
    path = write_config(tmp_path / "s.toml", sources)
    assert load(path, ["a"]).source("a").name == "a"
    with pytest.raises(ConfigError, match=r"`sources\[1\].options.token` references \$\{NOPE_TOKEN\}"):
        load(path)


def test_yaml_config(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    (tmp_path / "s.yaml").write_text(
        "sources:\n  - name: a\n    kind: csv\n    options: {path: x.csv}\n    schema: {id: int}\n"
    )
    assert load(tmp_path / "s.yaml").source("a").kind == "csv"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read ingest config"):
        load(tmp_path / "nope.toml")


def test_recorded_config_masks_literal_secrets_only(tmp_path: Path) -> None:
    sources = [
        {**CSV, "dedupe_key": ["id"]},
        {
            "name": "gh",
            "kind": "github",
            "options": {"repo": "o/r", "token": "literal-secret", "headers": {"X-Api-Key": "k123"}},
        },
        {"name": "gh2", "kind": "github", "options": {"repo": "o/r", "token": "${LL_UNSET_TOKEN}"}},
    ]
    loaded = load(write_config(tmp_path / "s.toml", sources), ["a", "gh"])
    assert loaded.recorded("a")["dedupe_key"] == ["id"]
    assert loaded.recorded("gh")["options"] == {
        "repo": "o/r",
        "token": "***",
        "headers": {"X-Api-Key": "***"},
    }
    assert loaded.recorded("gh2")["options"]["token"] == "${LL_UNSET_TOKEN}"


_text = st.text(alphabet="abcdef0123-/?=&", max_size=30)
_json = st.recursive(
    st.one_of(st.none(), st.integers(), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(_json, st.lists(st.text(alphabet="abcdef0123", min_size=4, max_size=12), max_size=4, unique=True))
def test_masking_by_value_hides_every_secret_and_is_reversible(value: Any, values: list[str]) -> None:
    secrets = Secrets()
    for i, v in enumerate(values):
        secrets.add(v, f"${{SECRET_{i}}}")
    masked = secrets.mask(value)
    assert not any(v in text for v in values for text in _strings(masked))  # numbers stay numbers
    assert secrets.unmask(masked) == json.loads(json.dumps(value))  # tuples aside, the same value


def test_secret_literals_and_query_tokens_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LL_DIR", "/srv/landing-zone")
    source = {
        "name": "h",
        "kind": "http",
        "schema": {"id": "int"},
        "options": {
            "url": "https://api.example/x?api_key=literal-key-123&page=1",
            "headers": {"Authorization": "Bearer literal-bearer-456"},
            "samples_dir": "${LL_DIR}/samples",
        },
    }
    loaded = load(write_config(tmp_path / "s.toml", [source]))
    recorded = json.dumps(loaded.recorded("h"))
    assert "literal-key-123" not in recorded and "literal-bearer-456" not in recorded
    assert "api_key=***" in recorded and "${LL_DIR}/samples" in recorded
    message = "GET https://api.example/x?api_key=literal-key-123 as literal-bearer-456 in /srv/landing-zone"
    assert loaded.redact(message) == (
        "GET https://api.example/x?api_key=${secret:h.options.url?api_key} as "
        "${secret:h.options.headers.Authorization}#credential in ${LL_DIR}"
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value.keys(), *(t for v in value.values() for t in _strings(v))]
    if isinstance(value, list):
        return [t for v in value for t in _strings(v)]
    return []
