"""fsspec access to the ledger's storage, for what delta-rs does not do (log cleanup,
checking that artifact files exist). Maps delta-rs style storage options to fsspec's."""

from __future__ import annotations

from typing import Any

import fsspec

from .location import Location, is_uri

# delta-rs / object_store option names -> s3fs arguments
_S3 = {
    "aws_access_key_id": "key",
    "aws_secret_access_key": "secret",
    "aws_session_token": "token",
}


def filesystem(
    location: Location, path: str | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem for ``path`` (default: the root) and the path in its terms."""
    target = path or location.root
    if not is_uri(target):
        return fsspec.filesystem("file"), target
    protocol = target.split("://", 1)[0]
    kwargs: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        protocol = "s3"
        client: dict[str, Any] = {}
        for key, value in location.storage_options.items():
            k = key.lower()
            if k in _S3:
                kwargs[_S3[k]] = value
            elif k in ("aws_endpoint_url", "aws_endpoint", "endpoint_url"):
                client["endpoint_url"] = value
            elif k in ("aws_region", "region"):
                client["region_name"] = value
        if client:
            kwargs["client_kwargs"] = client
    else:
        kwargs = dict(location.storage_options)
    fs = fsspec.filesystem(protocol, **kwargs)
    return fs, fs._strip_protocol(target)
