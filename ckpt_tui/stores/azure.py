"""Checkpoints in an Azure Blob container: the same layouts as on a disk or in S3.

``az://container/prefix``, ``abfs://container@ACCOUNT.dfs.core.windows.net/prefix``
or ``https://ACCOUNT.blob.core.windows.net/container/prefix``. Blob storage has no
rename: deletions and forks are claimed by marker blobs created with
``If-None-Match: *`` (``claims.py``). The SDK is imported only when such a location
is opened; credentials are those az and azcopy use (``docs/azure.md``).
"""

from __future__ import annotations

from ..core.errors import Refused
from .backends.azure import AzureBackend
from .tree import TreeStore


class AzureStore(TreeStore):
    """An Azure Blob container and prefix: runs under that prefix."""

    def __init__(self, url: str, *, endpoint_url: str | None = None) -> None:
        backend = AzureBackend(url, endpoint_url=endpoint_url)
        super().__init__(backend, backend.url("").rstrip("/"))
        self.container = backend.bucket
        self.prefix = backend.prefix

    @classmethod
    def from_url(cls, url: str, endpoint_url: str | None = None, profile: str | None = None) -> AzureStore:
        """``endpoint_url``: the account's blob endpoint where it is not the usual one
        (Azurite: ``http://127.0.0.1:10000/devstoreaccount1``)."""
        if profile:
            raise Refused("--profile names an AWS profile; Azure locations take their credentials "
                          "from the environment (see docs/azure.md)")
        return cls(url, endpoint_url=endpoint_url)
