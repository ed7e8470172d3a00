"""Views on every storage backend: materialised Delta views and the ``missing`` check through
fsspec (a local directory and S3 on a real moto_server)."""

from __future__ import annotations

from lakeledger.projections import api
from lakeledger.projections.engine import materialise
from lakeledger.store.storage import filesystem


def test_views_and_missing_files_on_every_backend(backend) -> None:  # type: ignore[no-untyped-def]
    ledger = backend.open()
    digest = ledger.declare_config("features", {"window": 7})
    fs, path = filesystem(ledger.location, ledger.location.join("out", "features.parquet"))
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as f:
        f.write(b"parquet bytes")
    ledger.register_artifact("features", "out/features.parquet", config_hash=digest)
    ledger.register_artifact("report", "out/report.html", config_hash=digest)  # never written
    registered = ledger.version

    statuses = dict(api.view(ledger, "staleness").select("name", "status").iter_rows())
    assert statuses == {"features": "fresh", "report": "missing"}
    assert materialise.load(ledger, "staleness")[1] == ledger.version

    fs.rm(path)
    ledger.declare_config("features", {"window": 14})
    report = api.check(ledger)
    assert {(p.subject, p.problem) for p in report.problems} == {
        ("features", "missing"),
        ("report", "missing"),
    }
    refreshed = {r.view: r for r in materialise.refresh(ledger)}
    assert refreshed["staleness"].through == ledger.version
    # as of the registrations the config was current (files are checked as they are now)
    then = api.view(ledger, "staleness", as_of=registered)
    assert dict(then.select("name", "status").iter_rows()) == {
        "features": "missing",
        "report": "missing",
    }
    assert "is gone" in then.row(0, named=True)["reason"]
    now = dict(api.view(ledger, "staleness").select("name", "reason").iter_rows())
    assert now["features"] == "file out/features.parquet is gone from storage"
