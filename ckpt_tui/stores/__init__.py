"""Stores: one tree store over small backends (a disk, S3), and W&B.

A location's scheme names its store in ``known_stores`` (``"module.Class"``, as
fsspec's ``known_implementations``): a store's module, and the cloud SDK it
imports, load only when such a location is opened, so that startup stays fast.
A store class opens a location with ``from_url(location, **options)``.
"""

from __future__ import annotations

import sys

from ..core.errors import Refused, StoreError
from ..core.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # structural for type checkers; a plain class when run

# Scheme -> the store class that opens it. A location without a scheme is a directory.
known_stores: dict[str, str] = {
    "file": "ckpt_tui.stores.local.LocalStore",
    "s3": "ckpt_tui.stores.s3.S3Store",
    "wandb": "ckpt_tui.stores.wandb.WandbStore",
    "memory": "ckpt_tui.stores.memory.MemoryStore",
    "gs": "ckpt_tui.stores.gcs.GCSStore",
    "az": "ckpt_tui.stores.azure.AzureStore",
    "abfs": "ckpt_tui.stores.azure.AzureStore",
    "abfss": "ckpt_tui.stores.azure.AzureStore",
    "https": "ckpt_tui.stores.azure.AzureStore",  # https://ACCOUNT.blob.core.windows.net/container/prefix
}
# Scheme -> the extra that installs what its store needs (``pip install 'ckpt-tui[EXTRA]'``).
extras: dict[str, str] = {"s3": "s3", "wandb": "wandb", "gs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure",
                          "https": "azure"}


class StoreClass(Protocol):
    def from_url(self, url: str, **options: Any) -> Store: ...


def schemes() -> list[str]:
    """Every scheme a location may start with (``s3`` for ``s3://...``)."""
    return sorted(known_stores)


def store_class(scheme: str, location: str | None = None) -> StoreClass:
    """The store class for ``scheme``, imported now; one line naming the extra to install
    when its module or the SDK it needs is missing."""
    target = known_stores.get(scheme)
    if target is None:
        raise Refused(f"unknown location {location or scheme + '://'!r}: use a directory or one of "
                      + ", ".join(f"{s}://" for s in schemes()))
    module_name, _, class_name = target.rpartition(".")
    with _ExtraNeeded(scheme, module_name):
        __import__(module_name)  # importlib.import_module's work, without importing importlib
        return getattr(sys.modules[module_name], class_name)


class _ExtraNeeded:
    """An ImportError of the store's module, or of a package it needs, as one line naming the
    extra that installs it; one of another module of ours is a bug, and shown as one. (A class,
    not contextlib's decorator: a listing starts without contextlib.)"""

    __slots__ = ("scheme", "module_name")

    def __init__(self, scheme: str, module_name: str) -> None:
        self.scheme, self.module_name = scheme, module_name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, traceback: object) -> None:
        if not isinstance(exc, ImportError):
            return
        missing = exc.name or ""
        if missing.startswith(__name__ + ".") and missing != self.module_name:
            return
        extra = extras.get(self.scheme)
        reason = (f"need the {missing} package" if missing and missing != self.module_name
                  else "are not supported by this installation")
        hint = f"pip install 'ckpt-tui[{extra}]'" if extra else "reinstall ckpt-tui"
        raise StoreError(f"{self.scheme}:// locations {reason}: {hint}") from None


def open_store(location: str, **options: object) -> Store:
    """Open ``./.art`` (a directory), ``s3://bucket/prefix``, ``wandb://entity[/project]``, or any
    location whose scheme is in ``known_stores``.

    ``options`` go to the store (e.g. ``endpoint_url`` and ``profile`` for S3).
    """
    scheme, sep, _ = location.partition("://")
    if not sep:
        scheme, location = "file", f"file://{location}"
    opener = store_class(scheme, location)
    with _ExtraNeeded(scheme, known_stores[scheme].rpartition(".")[0]):  # SDKs imported on opening
        return opener.from_url(location, **options)
