"""Errors the core raises. Every face (CLI, app, Python API) turns them into one clear message."""


class CkptError(Exception):
    """Base class: a problem the user can act on, never a bug."""


class Refused(CkptError):
    """The operation was refused on purpose; nothing was changed."""


class InvalidName(Refused):
    """A project or run name that is not safe to use as a path segment."""


class NotFound(CkptError):
    """A project, run or step that does not exist (or no longer exists)."""


class NoLocation(NotFound, Refused):
    """The location named does not exist: bad usage, refused before anything is read."""


class NotLogged(NotFound, Refused):
    """The metric asked for is logged for no checkpoint that could be chosen: refused (exit 2), as
    a prune refuses a run that does not log its metric; still ``NotFound`` to the Python API."""


class AlreadyExists(Refused):
    """The destination exists and would be overwritten."""


class Conflict(CkptError):
    """An object at the destination already holds other content: it is never overwritten."""


class StoreError(CkptError):
    """The storage answered with an error (permissions, network, ...)."""


class Unreadable(StoreError):
    """A folder or file the storage will not let us read (permissions): listed with a note, never pruned."""


class NotRead(Unreadable):
    """A file that is there but was not read: not a regular file (a FIFO, a device), a link
    leading out of the location, or larger than a reader takes. The message says which;
    whatever depends on the file is refused rather than decided as if it were absent."""


class Replaced(NotRead):
    """A file that is not the one a listing showed a moment ago (it, or a folder above it, was
    replaced: by a link, say): not read, and nothing says it is whole."""
