"""Keep N child processes running: restart any that dies, stop all on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import structlog

log = structlog.get_logger("poststelle.supervisor")

RESTART_PAUSE_SECONDS = 0.5


def spawn(
    config: Path, command: str, *arguments: str, pass_fds: Sequence[int] = ()
) -> subprocess.Popen[bytes]:
    """`poststelle --config CONFIG COMMAND ARGUMENTS…` as a child of this process, inheriting
    the descriptors `pass_fds`."""
    return subprocess.Popen(
        [sys.executable, "-m", "poststelle.cli", "--config", str(config), command, *arguments],
        pass_fds=pass_fds,
    )


def supervise(config: Path, processes: int, command: str = "worker") -> int:
    children = [spawn(config, command) for _ in range(processes)]
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("supervisor.started", pids=[c.pid for c in children])
    while not stopping:
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                log.warning("supervisor.child_died", command=command, pid=child.pid, code=code)
                time.sleep(RESTART_PAUSE_SECONDS)
                children[index] = spawn(config, command)
        time.sleep(0.2)
    for child in children:
        child.wait()
    return 0
