"""GitHub issues (``/repos/{owner}/{repo}/issues``): the HTTP source with GitHub's defaults.

Ascending by ``updated_at`` with ``since`` as the cursor, ``Link`` pagination, 422 past the
result window ends the run cleanly (the next run continues from ``since``), and the token comes
from ``$GITHUB_TOKEN`` unless options say otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from lakeledger.ingest.extract.sources.http import HttpOptions, HttpSource


class GithubIssue(msgspec.Struct, kw_only=True):
    """What bronze keeps of an issue; nested objects are kept as JSON text."""

    id: int
    number: int
    title: str
    state: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    comments: int | None = None
    user: dict[str, Any] | None = None
    labels: list[Any] | None = None
    body: str | None = None
    html_url: str | None = None
    pull_request: dict[str, Any] | None = None


class GithubOptions(HttpOptions, forbid_unknown_fields=True, kw_only=True):
    repo: str  # "owner/name"
    api_url: str = "https://api.github.com"
    state: str = "all"
    labels: str | None = None
    include_pulls: bool = True
    per_page: int | None = 100
    token_env: str | None = "GITHUB_TOKEN"


class GithubIssuesSource(HttpSource):
    kind = "github"
    Options = GithubOptions
    default_schema = GithubIssue

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        o = self.options
        params: dict[str, Any] = {
            "state": o.state,
            "sort": "updated",
            "direction": "asc",
            **o.params,
        }
        if o.labels:
            params["labels"] = o.labels
        self.options = msgspec.structs.replace(
            o,
            url=o.url or f"{o.api_url.rstrip('/')}/repos/{o.repo}/issues",
            params=params,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                **o.headers,
            },
            per_page_param=o.per_page_param or "per_page",
            cursor_param=o.cursor_param or "since",
            pagination="link",
        )
        self.cursor_field = self.config.cursor or "updated_at"

    def unseen(self, records: list[Any], state: dict[str, Any]) -> tuple[list[Any], int]:
        """Pull requests advance the cursor like issues; with ``include_pulls = false`` they are
        then counted as skipped instead of landing in bronze."""
        fresh, skipped = super().unseen(records, state)
        if self.options.include_pulls:
            return fresh, skipped
        issues = [r for r in fresh if not (isinstance(r, dict) and "pull_request" in r)]
        return issues, skipped + len(fresh) - len(issues)
