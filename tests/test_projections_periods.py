"""How recorded partition strings map to periods (pure functions of the store codec)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lakeledger.store import periods
from lakeledger.store.partitions import split_partition


@pytest.mark.parametrize(
    ("partition", "keys", "group", "moment"),
    [
        ("date=2025-03-01", ("date",), "", datetime(2025, 3, 1, tzinfo=UTC)),
        (
            "region=eu/date=2025-03-01",
            ("region", "date"),
            "region=eu",
            datetime(2025, 3, 1, tzinfo=UTC),
        ),
        ("date=2025-03-01/region=eu", ("date",), "region=eu", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025/03/01", ("date",), "", datetime(2025, 3, 1, tzinfo=UTC)),
        ("dt=20250301", ("date",), "", datetime(2025, 3, 1, tzinfo=UTC)),
        ("hour=2025-03-01T05", ("hour",), "", datetime(2025, 3, 1, 5, tzinfo=UTC)),
        ("ts=2025-03-01T05:30:00+01:00", ("ts",), "", datetime(2025, 3, 1, 4, 30, tzinfo=UTC)),
        ("week=2025-W09", ("week",), "", datetime(2025, 2, 24, tzinfo=UTC)),
        ("q=2025-Q2", ("q",), "", datetime(2025, 4, 1, tzinfo=UTC)),
        ("month=2025-03", ("month",), "", datetime(2025, 3, 1, tzinfo=UTC)),
        ("year=2025", ("year",), "", datetime(2025, 1, 1, tzinfo=UTC)),
        ("region=eu/kind=full", ("date",), "region=eu/kind=full", None),
    ],
)
def test_split_partition(
    partition: str, keys: tuple[str, ...], group: str, moment: datetime | None
) -> None:
    assert split_partition(partition, keys) == (group, moment)


def test_labels_and_ranges() -> None:
    t = datetime(2025, 11, 30, 23, 15, tzinfo=UTC)
    labels = {f: periods.label(periods.truncate(t, f), f) for f in "HDWMQY"}
    assert labels == {
        "H": "2025-11-30T23",
        "D": "2025-11-30",
        "W": "2025-W48",
        "M": "2025-11",
        "Q": "2025-Q4",
        "Y": "2025",
    }
    months = periods.expected(
        "M", datetime(2024, 11, 15, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    )
    assert [periods.label(m, "M") for m in months] == ["2024-11", "2024-12", "2025-01", "2025-02"]
    with pytest.raises(ValueError, match="unknown freq"):
        periods.truncate(t, "X")
