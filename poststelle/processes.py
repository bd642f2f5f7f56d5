"""Which process is this, and does a process named so still run on this host."""

from __future__ import annotations

import functools
import hashlib
import os
import socket


@functools.cache
def host_tag() -> str:
    """A short, name-safe tag of this host (no separators, whatever the host name holds)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def is_gone(host: str, pid: str) -> bool:
    """True only when `pid` names a process of this host, not this one, that no longer runs;
    a process of another host, or one we may not signal, counts as alive."""
    if host != host_tag() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def this_process() -> str:
    """`host:pid`, as an item records who last completed one of its stages."""
    return f"{host_tag()}:{os.getpid()}"


def holder_is_gone(holder: str) -> bool:
    host, pid, *_ = [*holder.split(":"), ""]
    return is_gone(host, pid)
