"""Flushing to disk: one file, one directory, or a whole file system at once."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (its entries) by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2) from the C library; Python's `os` offers only sync(2), for all file
    systems. None where the library has no syncfs."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        syncfs: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]  # type: ignore[attr-defined]
    syncfs.restype = ctypes.c_int  # type: ignore[attr-defined]
    return syncfs


_syncfs = _load_syncfs()


def can_sync_filesystem() -> bool:
    return _syncfs is not None


def sync_filesystem(path: Path) -> None:
    """Write out everything of the file system that holds `path` (data, inodes, directory
    entries), waiting for the disk, as fsync does for one file: several files and their
    directories in one flush. It also writes out other writers' data on that file system."""
    if _syncfs is None:
        raise OSError("syncfs(2) is not available on this system")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs: {os.strerror(errno)}", str(path))
    finally:
        os.close(fd)
