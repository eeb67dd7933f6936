"""A :class:`~leadeval.ports.DocumentStore` over a local directory (local runs, tests, the CLI).

Keys are relative POSIX paths under ``root`` (``lead_documents.storage_key``). A key that would
leave ``root`` — absolute, a drive letter, ``..`` segments, or a symlink pointing outside — is
refused with :class:`~leadeval.errors.DocumentMissing`: for this store such a key names no
document, and the document gets the verdict `unreadable`, as for any missing object.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from leadeval.errors import DocumentMissing, DocumentTooLarge, StorageError

logger = logging.getLogger(__name__)


class LocalDocumentStore:
    """Documents stored as files under a root directory.

    Args:
        root: the directory holding the documents (created by :meth:`put` when missing).

    Errors (both methods): :class:`DocumentMissing` for a missing file or a key escaping
    ``root``; :class:`DocumentTooLarge` (``get``) when the file is larger than ``max_bytes``;
    :class:`StorageError` for any other ``OSError`` (permissions, I/O error).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalDocumentStore(root={str(self.root)!r})"

    # ------------------------------------------------------------------ paths

    def _path(self, key: str) -> Path:
        """The file for ``key``; raises DocumentMissing when the key escapes ``root``."""
        if not key or "\x00" in key:
            raise DocumentMissing("invalid storage key")
        posix, windows = PurePosixPath(key), PureWindowsPath(key)
        if (posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root
                or ".." in posix.parts or ".." in windows.parts):
            raise DocumentMissing("storage key outside the documents directory")
        path = self.root / posix
        # A symlink inside root may still point outside it: compare the resolved paths.
        try:
            root_resolved = self.root.resolve()
            resolved = path.resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop (Python < 3.13)
            raise DocumentMissing("storage key cannot be resolved") from exc
        if resolved != root_resolved and not resolved.is_relative_to(root_resolved):
            raise DocumentMissing("storage key outside the documents directory")
        return path

    # ------------------------------------------------------------------ port

    def get(self, key: str, *, max_bytes: int) -> bytes:
        """The file's bytes, at most ``max_bytes`` (bytes).

        The size is checked with ``stat`` before the file is opened, and again while reading
        (a file growing meanwhile still cannot exceed the limit in memory: at most
        ``max_bytes + 1`` bytes are read).

        Raises:
            DocumentMissing: no such file, not a regular file, or the key escapes ``root``.
            DocumentTooLarge: the file is larger than ``max_bytes`` (``size`` = its size).
            StorageError: any other ``OSError``.
        """
        path = self._path(key)
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise DocumentMissing("missing from storage") from exc
        except OSError as exc:
            raise StorageError(f"local storage error ({type(exc).__name__})") from exc
        if not stat.S_ISREG(info.st_mode):
            raise DocumentMissing("missing from storage (not a regular file)")
        if info.st_size > max_bytes:
            raise DocumentTooLarge(f"object is {info.st_size} bytes, limit {max_bytes}", size=info.st_size)
        try:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError as exc:  # deleted between stat and open
            raise DocumentMissing("missing from storage") from exc
        except OSError as exc:
            raise StorageError(f"local storage error ({type(exc).__name__})") from exc
        if len(data) > max_bytes:
            raise DocumentTooLarge(f"object is larger than the limit {max_bytes}", size=None)
        return data

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        """Write ``data`` to the file for ``key`` atomically (temporary file, then rename),
        creating parent directories. ``content_type`` is ignored (files carry no metadata).

        Raises:
            DocumentMissing: the key escapes ``root``.
            StorageError: the file cannot be written (``OSError``).
        """
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"local storage error ({type(exc).__name__})") from exc
        logger.debug("stored document object", extra={"size_bytes": len(data)})
