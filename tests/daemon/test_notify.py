"""sd_notify without libsystemd: messages over $NOTIFY_SOCKET, no-ops outside systemd."""

from __future__ import annotations

import os

from linkwatch.notify import Notifier
from tests.daemon.conftest import NotifySocket


def test_outside_systemd_every_call_is_a_no_op() -> None:
    n = Notifier(env={})
    assert not n.enabled and n.watchdog_s is None
    n.ready("x")
    n.watchdog()
    n.close()


def test_messages_reach_the_socket(notify_socket: NotifySocket) -> None:
    n = Notifier(env={"NOTIFY_SOCKET": str(notify_socket.path)})
    n.ready("started")
    n.status("checking 3/10")
    n.watchdog()
    n.stopping()
    n.close()
    assert notify_socket.drain() == [
        "READY=1\nSTATUS=started",
        "STATUS=checking 3/10",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=stopping",
    ]


def test_watchdog_interval_is_read_for_this_pid_only() -> None:
    mine = Notifier(env={"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
    other = Notifier(env={"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"})
    assert mine.watchdog_s == 4.0 and other.watchdog_s is None


def test_a_vanished_socket_does_not_raise(tmp_path: os.PathLike[str]) -> None:
    n = Notifier(env={"NOTIFY_SOCKET": f"{tmp_path}/gone.sock"})
    n.ready("x")
    n.close()
