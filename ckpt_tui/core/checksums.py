"""Telling that two copies of a file hold the same bytes: by the checksum a store keeps, else by reading.

A store keeps a checksum of each object (S3: the ETag, an MD5 for an object
written in one request; GCS: CRC32C). An S3 multipart ETag is not an MD5 of the
content but the MD5 of its parts' MD5s: it is computed the same way from the
local file, given the part size. When the store keeps nothing usable (a disk,
an encrypted object, an unknown part size) both copies are read and hashed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from contextlib import closing
from typing import BinaryIO, NamedTuple

CHUNK = 4 * 1024 * 1024

MD5 = "md5"  # hex of the MD5 of the content
MD5_OF_PARTS = "md5-parts"  # an S3 multipart ETag: hex of the MD5 of the parts' MD5s, then -N
CRC32C = "crc32c"  # base64 of the big-endian CRC32C (GCS, Azure's x-ms-content-crc64 is not this)


class Digest(NamedTuple):
    """A checksum a store keeps of one object's content."""

    kind: str
    value: str
    part_size: int = 0  # MD5_OF_PARTS: the size of every part but the last


def _crc32c() -> Callable[[], object] | None:
    try:
        import google_crc32c  # installed with google-cloud-storage
    except ImportError:
        return None
    return google_crc32c.Checksum


def digest_of(stream: BinaryIO, kind: str, part_size: int = 0) -> str | None:
    """``stream``'s content as a ``Digest`` of ``kind`` holds it; None for a kind not computed here."""
    with closing(stream):
        if kind == MD5:
            whole = hashlib.md5(usedforsecurity=False)
            while block := stream.read(CHUNK):
                whole.update(block)
            return whole.hexdigest()
        if kind == MD5_OF_PARTS and part_size > 0:
            parts = []
            while block := stream.read(part_size):
                parts.append(hashlib.md5(block, usedforsecurity=False).digest())
            combined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
            return f"{combined}-{len(parts)}"
        if kind == CRC32C and (checksum := _crc32c()) is not None:
            crc = checksum()
            while block := stream.read(CHUNK):
                crc.update(block)
            return base64.b64encode(crc.digest()).decode()
    return None


def same_content(local: Callable[[], BinaryIO], remote: Callable[[], BinaryIO], digest: Digest | None,
                 local_md5: str | None = None) -> bool:
    """Whether the remote copy holds the local file's bytes (sizes already agree): by the
    remote's checksum when it keeps one that matches; else by reading both. A checksum that
    differs is confirmed by reading: an ETag that is not an MD5 (encryption) says nothing.
    ``local_md5``: the local file's MD5, when it was just computed (while it was copied)."""
    if digest is not None:
        mine = local_md5 if digest.kind == MD5 and local_md5 else digest_of(local(), digest.kind, digest.part_size)
        if mine == digest.value:
            return True
    return (local_md5 or digest_of(local(), MD5)) == digest_of(remote(), MD5)
