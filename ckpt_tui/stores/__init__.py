"""Stores: one tree store over small backends (a disk, S3), and W&B.

Cloud SDKs are imported only inside their own modules, when such a location is
opened, so that startup stays fast.
"""

from __future__ import annotations

from ..core.errors import Refused
from ..core.store import Store


def open_store(location: str, **options: object) -> Store:
    """Open ``./.art`` (a directory), ``s3://bucket/prefix`` or ``wandb://entity[/project]``.

    ``options`` go to the store (e.g. ``endpoint_url`` and ``profile`` for S3).
    """
    scheme, sep, _ = location.partition("://")
    if not sep or scheme == "file":
        from .local import LocalStore

        return LocalStore(location.removeprefix("file://"))
    if scheme == "s3":
        from .s3 import S3Store

        return S3Store.from_url(location, **options)
    if scheme == "gs":
        from .gcs import GCSStore

        return GCSStore.from_url(location, **options)
    if scheme == "wandb":
        from .wandb import WandbStore

        return WandbStore.from_url(location, **options)
    raise Refused(f"unknown location {location!r}: use a directory, s3://bucket/prefix or wandb://entity")
