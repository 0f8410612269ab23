"""Checkpoints in an S3 bucket (AWS, MinIO, SeaweedFS, R2...): the same layouts as on a disk.

``s3://bucket/prefix/{project}/models/{model}/checkpoints/{step:04d}/...`` for
ART, and any prefix holding a trainer's step checkpoints (see
``docs/layouts.md``). S3 has no rename: deletions and forks are claimed by
marker objects (``claims.py``). botocore is imported only when an S3 location
needs it (``backends/s3light.py``).
"""

from __future__ import annotations

from .backends.s3 import S3Backend, parse_url
from .tree import TreeStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class S3Store(TreeStore):
    """``s3://bucket/prefix``: runs under that prefix."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, *,
                 endpoint_url: str | None = None, profile: str | None = None) -> None:
        backend = S3Backend(bucket, prefix, client, endpoint_url=endpoint_url, profile=profile)
        super().__init__(backend, f"s3://{bucket}/{backend.prefix}".rstrip("/"))
        self.bucket = bucket
        self.prefix = backend.prefix
        self.client = backend.client
        self.endpoint_url = backend.endpoint_url

    @classmethod
    def from_url(cls, url: str, endpoint_url: str | None = None, profile: str | None = None) -> S3Store:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix, endpoint_url=endpoint_url, profile=profile)
