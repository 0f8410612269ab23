"""Checkpoints in a Google Cloud Storage bucket: the same layouts as on a disk.

``gs://bucket/prefix/{project}/models/{model}/checkpoints/{step:04d}/...`` for
ART, and any prefix holding a trainer's step checkpoints (see
``docs/layouts.md``). GCS has no rename: deletions and forks are claimed by
marker objects created with ``if_generation_match=0`` (``claims.py``).
google-cloud-storage is imported only when a ``gs://`` location is written to.
"""

from __future__ import annotations

from ..core.errors import Refused
from .backends.gcs import EMULATOR, GCSBackend, parse_url
from .tree import TreeStore


class GCSStore(TreeStore):
    """``gs://bucket/prefix``: runs under that prefix."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        backend = GCSBackend(bucket, prefix)
        super().__init__(backend, f"gs://{bucket}/{backend.prefix}".rstrip("/"))
        self.bucket = bucket
        self.prefix = backend.prefix

    @classmethod
    def from_url(cls, url: str, **options: object) -> GCSStore:
        if options:  # --endpoint-url and --profile: S3's
            raise Refused(f"{', '.join('--' + o.replace('_', '-') for o in options)}: S3 options, not for "
                          f"gs:// (credentials: Application Default Credentials; emulators: {EMULATOR})")
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix)
