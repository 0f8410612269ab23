"""Files that carry their own length: a ``.safetensors`` file shorter than its header promises,
a ``torch.save`` archive cut before its end record, was not written to the end.

Only the few bytes that tell are read (the header of a ``.safetensors`` file, the
last bytes of a zip archive), through the run's backend; the size is the one the
listing gave. A ``.safetensors`` file whose header does not read (zeros where a save
preallocated the file, a header cut mid-write) is not whole: nothing says it is. Another
file that is not of the kind its name says (a stand-in, a format of its own: no
plausible header length, no zip signature) gets no verdict either way.
"""

from __future__ import annotations

from collections.abc import Callable

from ...core.errors import CkptError, Replaced
from ...core.json_text import loads as json_loads
from ...core.records import NamedTuple

# safetensors refuses headers above 100 MB (``MAX_HEADER_SIZE`` in its Rust crate).
MAX_SAFETENSORS_HEADER = 100_000_000
# A zip archive ends with its end-of-central-directory record (22 bytes, plus a comment).
ZIP_END = b"PK\x05\x06"
ZIP_TAIL = 22 + 65535
SAFETENSORS = ".safetensors"
WEIGHT_SUFFIXES = (SAFETENSORS, ".bin", ".pt", ".pth")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    Opener = Callable[[str], BinaryIO]


def safetensors_problem(stream: BinaryIO, size: int) -> str:
    """Why a ``.safetensors`` file of ``size`` bytes is not whole ("" when it is, or is no such file).

    The file starts with the header's length (8 bytes, little-endian), then a JSON
    header whose tensors' ``data_offsets`` end where the file must end.
    """
    if size == 0:
        return "empty"
    head = stream.read(8) if size >= 8 else b""
    if len(head) < 8:  # the header's length itself is cut: nothing says the file is whole
        return f"{size} bytes, its header unreadable (shorter than the 8 bytes of its length)"
    length = int.from_bytes(head, "little")
    if length > MAX_SAFETENSORS_HEADER:
        return ""
    if length == 0:  # never written: a preallocated file starts with zeros
        return f"{size} bytes, its header not written yet"
    if 8 + length > size:
        return f"{size} bytes, shorter than its {length}-byte header"
    try:
        header = json_loads(stream.read(length))
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict):  # zeros or a header cut mid-write: nothing says the file is whole
        return f"{size} bytes, its {length}-byte header unreadable"
    ends = [entry["data_offsets"][1] for entry in header.values()
            if isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2 and isinstance(entry["data_offsets"][1], int)]
    promised = 8 + length + max(ends, default=0)
    return f"{size} of the {promised} bytes its header promises" if size < promised else ""


def zip_problem(stream: BinaryIO, size: int) -> str:
    """Why a ``torch.save`` archive (a zip file) is not whole: no end record in its last bytes.
    No verdict where the stream cannot seek (an object store's download) or the file is no zip."""
    if size == 0:
        return "empty"
    if not stream.seekable() or stream.read(2) != b"PK":
        return ""
    stream.seek(max(0, size - ZIP_TAIL))
    tail = stream.read()
    return "" if ZIP_END in tail else f"{size} bytes, cut before the archive's end"


def file_problem(path: str, size: int, opener: Opener, unread: str | None = "") -> str | None:
    """Why one weights file is not whole ("" when nothing says so; ``unread`` when it could not be read)."""
    check = (safetensors_problem if path.endswith(SAFETENSORS) else
             zip_problem if path.endswith((".pt", ".pth", ".bin")) else None)
    if check is None:
        return ""
    try:
        stream = opener(path)
        try:
            return check(stream, size)
        finally:
            stream.close()
    except Replaced as exc:  # not the file listed (its folder swapped for a link?): nothing says it is whole
        return str(exc)
    except (CkptError, OSError):
        return unread  # gone or unreadable meanwhile: the listing of the step says the rest


# What a step holds beside its weights (configs, tokenizer, notes): a step of these alone holds no model.
DESCRIPTION_SUFFIXES = (".json", ".jsonl", ".txt", ".yaml", ".yml", ".md", ".model", ".tiktoken")


def is_weights(path: str) -> bool:
    return path.endswith(WEIGHT_SUFFIXES)


def is_description(path: str) -> bool:
    return path.lower().endswith(DESCRIPTION_SUFFIXES)


class Weights(NamedTuple):
    """What a step folder's files say of its weights: ``path: why`` for each one not whole."""

    problems: tuple[str, ...] = ()
    payload: bool = True  # whether the step holds any file that is not a description (a config...)

    def verdict(self, wanted: str = "weights file") -> str:
        """Why the step is not whole by its weights ("" when it is): one is cut short, or the step
        holds nothing but descriptions (``adapter_config.json`` alone)."""
        if self.problems:
            return "; ".join(self.problems)
        return "" if self.payload else f"no {wanted} yet"
