"""JSON APIs over HTTP (stdlib ``urllib``): pagination, incremental cursor, retries, rate limits.

Incremental mode (``cursor = "updated_at"`` + ``options.cursor_param = "since"``) assumes the API
returns records ascending by the cursor field and filters them with ``>=``: every page checkpoints
the highest cursor value seen plus the keys of the records holding it, so a resumed or later run
asks again from that value and drops what it already has. Pagination follows ``Link: rel="next"``
headers or increments a page parameter. A status in ``stop_statuses`` (GitHub's 422 past its
result window) ends the run cleanly: the cursor says how far it got and the next run goes on.
403/429 rate limits wait for ``Retry-After`` / ``X-RateLimit-Reset``; timeouts and 5xx are retried
with exponential backoff. The token travels only in the ``Authorization`` header: it is never
logged, captured in samples or recorded; a token the config puts in the query string is masked by
value in everything recorded (cursors included) and expanded again on resume.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message
from typing import Any, Literal

import msgspec
from lakeledger.ingest.extract.sources.base import Batch, Source, SourceError

_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?')


class HttpOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str = ""
    params: dict[str, str | int | bool] = {}
    headers: dict[str, str] = {}
    token: str | None = None  # usually "${SOME_TOKEN}"
    token_env: str | None = None  # or: the name of the variable holding it
    auth_scheme: str = "Bearer"
    records_path: str = ""  # dotted path to the list in the body; "" = the body is the list
    pagination: Literal["link", "page", "none"] = "link"
    page_param: str = "page"
    per_page_param: str | None = None
    per_page: int | None = None
    max_pages: int | None = None
    cursor_param: str | None = None  # query parameter taking the cursor, e.g. "since"
    key_field: str = "id"  # identifies records sharing the last cursor value
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 1.0  # first retry delay; doubles each attempt, with jitter
    max_backoff_s: float = 60.0
    max_wait_s: float = 900.0  # longest rate-limit wait; beyond it the run stops cleanly
    stop_statuses: list[int] = msgspec.field(default_factory=lambda: [422])
    samples_dir: str | None = None  # keep raw pages here (debugging)
    user_agent: str = "lakeledger-ingest"


class _Stop(Exception):
    """The API said "no further" (result window, long rate limit): stop with what we have."""


class HttpSource(Source):
    kind = "http"
    Options = HttpOptions
    record_identity = "content"  # page URLs and row numbers shift when a run resumes

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.cursor_field = self.config.cursor
        self.requests = 0

    # -- request plumbing --------------------------------------------------------------------
    def token(self) -> str | None:
        o = self.options
        value = o.token or (os.environ.get(o.token_env) if o.token_env else None)
        if value:
            where = f"${{{o.token_env}}}" if not o.token else f"${{secret:{self.config.name}.token}}"
            self.context.secrets.add(value, where)
        return value or None

    def headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "User-Agent": self.options.user_agent,
            **self.options.headers,
        }
        token = self.token()
        if token:
            headers["Authorization"] = f"{self.options.auth_scheme} {token}".strip()
        return headers

    def get(self, url: str) -> tuple[int, Message, bytes]:
        """GET with retries; returns stop statuses as they are, raises ``_Stop``/``SourceError``."""
        o = self.options
        failures = 0
        while True:
            self.requests += 1
            request = urllib.request.Request(url, headers=self.headers())
            try:
                with urllib.request.urlopen(request, timeout=o.timeout_s) as response:
                    return response.status, response.headers, response.read()
            except urllib.error.HTTPError as exc:
                status, headers, body = exc.code, exc.headers, exc.read()
                if status in o.stop_statuses:
                    return status, headers, body
                wait = _rate_limit_wait(status, headers)
                if wait is not None:
                    if wait > o.max_wait_s:
                        raise _Stop(f"rate limited for {wait:.0f}s (more than options.max_wait_s)") from None
                    time.sleep(wait)
                    continue
                if status < 500 and status != 408:
                    raise SourceError(
                        f"GET {_safe(url)} answered {status}: "
                        f"{self.context.redact(body[:300].decode(errors='replace'))}"
                    ) from None
                problem = f"HTTP {status}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = str(getattr(exc, "reason", exc))
            failures += 1
            if failures > o.max_retries:
                raise SourceError(
                    f"GET {_safe(url)} failed {failures} times, last: {problem}; "
                    "the API may be down, try again later"
                )
            delay = min(o.max_backoff_s, o.backoff_s * 2 ** (failures - 1))
            time.sleep(delay * random.uniform(0.5, 1.0))

    # -- pages -------------------------------------------------------------------------------
    def first_url(self, state: dict[str, Any]) -> str:
        o = self.options
        if not self.cursor_field and state.get("next"):
            return str(state["next"])
        params: dict[str, Any] = dict(o.params)
        if o.per_page_param and o.per_page:
            params[o.per_page_param] = o.per_page
        if o.cursor_param and state.get("since") is not None:
            params[o.cursor_param] = state["since"]
        if o.pagination == "page":
            params.setdefault(o.page_param, 1)
        return _with_params(o.url, params)

    def batches(self, cursor: Any) -> Iterator[Batch]:
        state: dict[str, Any] = dict(cursor or {})
        url: str | None = self.first_url(state)
        pages = 0
        while url:
            try:
                status, headers, body = self.get(url)
            except _Stop as stop:
                self.stop_reason = f"{stop} at page {pages + 1}"
                return
            if status in self.options.stop_statuses:
                self.stop_reason = (
                    f"HTTP {status} at page {pages + 1} (API result window?); "
                    "stopped cleanly, the next run resumes from the cursor"
                )
                return
            pages += 1
            self.capture(pages, url, body)
            records = self.records(body, url)
            records, skipped = self.unseen(records, state)
            next_url = self.next_url(url, headers, records or skipped)
            if not self.cursor_field:
                state = {"next": next_url} if next_url else {}
            yield Batch(
                cursor=dict(state),
                origin=_safe(url),
                records=records,
                bytes=len(body),
                skipped=skipped,
                done=1.0 if next_url is None else _share(url, headers, self.options.page_param),
            )
            if self.options.max_pages and pages >= self.options.max_pages:
                return
            url = next_url

    def finish(self, cursor: Any) -> Any:
        return cursor if self.cursor_field else None  # without a cursor: a snapshot per run

    def records(self, body: bytes, url: str) -> list[Any]:
        try:
            data = json.loads(body) if body.strip() else []
        except ValueError as exc:
            raise SourceError(f"GET {_safe(url)} did not return JSON: {exc}") from None
        for part in filter(None, self.options.records_path.split(".")):
            data = data.get(part, []) if isinstance(data, dict) else []
        if not isinstance(data, list):
            raise SourceError(
                f"GET {_safe(url)}: options.records_path "
                f"{self.options.records_path!r} is not a list in the response"
            )
        return data

    def unseen(self, records: list[Any], state: dict[str, Any]) -> tuple[list[Any], int]:
        """Drop records already ingested (at or below the cursor); advance the cursor state."""
        field = self.cursor_field
        if not field:
            return records, 0
        since, keys = state.get("since"), set(map(str, state.get("keys", [])))
        fresh = []
        for record in records:
            value = record.get(field) if isinstance(record, dict) else None
            key = str(record.get(self.options.key_field)) if isinstance(record, dict) else ""
            if (
                value is not None
                and since is not None
                and (str(value) < str(since) or (str(value) == str(since) and key in keys))
            ):
                continue
            fresh.append(record)
            if value is None:
                continue
            if since is None or str(value) > str(since):
                since, keys = value, {key}
            elif str(value) == str(since):
                keys.add(key)
        state["since"], state["keys"] = since, sorted(keys)
        return fresh, len(records) - len(fresh)

    def next_url(self, url: str, headers: Message, got_records: Any) -> str | None:
        o = self.options
        if o.pagination == "link":
            for target, rel in _LINK.findall(headers.get("Link", "") or ""):
                if rel == "next":
                    return urllib.parse.urljoin(url, target)
            return None
        if o.pagination == "page" and got_records:
            parts = urllib.parse.urlsplit(url)
            query = dict(urllib.parse.parse_qsl(parts.query))
            query[o.page_param] = str(int(query.get(o.page_param, "1")) + 1)
            return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
        return None

    def capture(self, page: int, url: str, body: bytes) -> None:
        target = self.options.samples_dir or self.context.samples_dir
        if not target:
            return
        folder = os.path.join(self.context.path(target), self.config.name)
        os.makedirs(folder, exist_ok=True)
        stem = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-p{page:04d}"
        with open(os.path.join(folder, stem + ".json"), "wb") as f:
            f.write(body)
        with open(os.path.join(folder, stem + ".url"), "w") as f:
            f.write(self.context.redact(_safe(url)) + "\n")


def _rate_limit_wait(status: int, headers: Message) -> float | None:
    """Seconds to wait when the answer is a rate limit, else None."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 60.0
    if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset"):
        try:
            return max(0.0, float(headers["X-RateLimit-Reset"]) - time.time())
        except ValueError:
            return 60.0
    return 60.0 if status == 429 else None


def _share(url: str, headers: Message, page_param: str) -> float | None:
    """Pages done / pages in all, from the ``Link: rel="last"`` header when there is one."""
    for target, rel in _LINK.findall(headers.get("Link", "") or ""):
        if rel == "last":
            last = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
            here = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
            try:
                return min(1.0, int(here.get(page_param, "1")) / int(last[page_param]))
            except (KeyError, ValueError, ZeroDivisionError):
                return None
    return None


def _with_params(url: str, params: dict[str, Any]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()})
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _safe(url: str) -> str:
    """The URL without credentials that APIs sometimes accept in the query string."""
    parts = urllib.parse.urlsplit(url)
    query = [
        (k, "***" if re.search(r"token|key|secret|password|sig", k, re.I) else v)
        for k, v in urllib.parse.parse_qsl(parts.query)
    ]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=urllib.parse.urlencode(query)))
