"""A real Linux desktop for tests: Xvfb, a D-Bus session bus and the dunst notification daemon.

Every process is started here and stopped by its PID at teardown. dunst runs with a dunstrc
where notifications never expire (`timeout = 0`) and ignore the timeout an app asks for, so a
notification stays on screen until the test answers it: `dunstctl action 0` invokes its default
action, `dunstctl context` opens the action menu (here a script that picks the entry named in
a file), `dunstctl close` closes it as the person would.

Use it from a test module with `from desktop import desktop_session, desktop  # noqa: F401`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NEEDED = ("Xvfb", "dbus-daemon", "dunst", "dunstctl", "xclip")

DUNSTRC = """\
[global]
    font = DejaVu Sans 11
    width = 460
    height = 220
    origin = top-right
    offset = 10x10
    frame_width = 2
    frame_color = "#5e81ac"
    padding = 10
    horizontal_padding = 12
    format = "<b>%s</b>\\n%b"
    show_indicators = yes
    ignore_dbusclose = no
    icon_position = off
    dmenu = {dmenu}
    browser = /bin/false
[urgency_low]
    timeout = 0
[urgency_normal]
    background = "#2e3440"
    foreground = "#eceff4"
    timeout = 0
[urgency_critical]
    timeout = 0
"""

BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

#: dunst pipes the action menu ("#Accept [app]" lines) into this script and runs the line it prints.
DMENU = """\
#!/bin/sh
want=$(cat "{choice}")
grep -m1 -F -- "$want"
"""


def _need_binaries() -> None:
    missing = [name for name in NEEDED if shutil.which(name) is None]
    if missing:
        pytest.fail(f"desktop test needs {', '.join(missing)}: install them with `bash scripts/setup.sh` (as root)")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop one process we started, by its PID: TERM, then KILL after 5 s."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _read_line(fd: int, what: str, log: Path, timeout: float = 20.0) -> str:
    """The first line a child writes to `fd` (Xvfb's display number, dbus-daemon's address)."""
    os.set_blocking(fd, False)
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not start within {timeout:.0f} s; its log: {log}")
        try:
            chunk = os.read(fd, 256)
        except BlockingIOError:
            chunk = b""
        if chunk:
            data += chunk
        else:
            time.sleep(0.05)
    return data.split(b"\n", 1)[0].decode().strip()


@dataclass
class Desktop:
    """A running desktop: its environment and the ways a person answers notifications."""

    env: dict[str, str]
    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def display(self) -> str:
        return self.env["DISPLAY"]

    def run(self, *command: str, input: bytes | None = None) -> str:
        done = subprocess.run(command, env=self.env, input=input, capture_output=True, timeout=30, check=False)
        assert done.returncode == 0, f"{command} failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
        return done.stdout.decode()

    def dunstctl(self, *args: str) -> str:
        return self.run("dunstctl", *args)

    def displayed(self) -> int:
        return int(self.dunstctl("count", "displayed").strip())

    def wait_displayed(self, count: int, timeout: float = 15.0) -> None:
        """Wait until dunst shows exactly `count` notifications (it draws them asynchronously)."""
        deadline = time.monotonic() + timeout
        while self.displayed() != count:
            assert time.monotonic() < deadline, f"dunst shows {self.displayed()} notifications, expected {count}"
            time.sleep(0.05)

    def choose_in_menu(self, entry: str) -> None:
        """Open dunst's action menu on the newest notification and pick the entry containing `entry`."""
        (self.root / "dmenu-choice").write_text(entry, encoding="utf-8")
        self.dunstctl("context")

    def clipboard(self) -> str:
        return self.run("xclip", "-o", "-selection", "clipboard")


def _start_x(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """Xvfb on a display number it picks itself (-displayfd), so parallel runs never collide."""
    read_fd, write_fd = os.pipe()
    log = root / "xvfb.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
            env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=(write_fd,),
        )  # fmt: skip
    os.close(write_fd)
    try:
        number = _read_line(read_fd, "Xvfb", log)
    finally:
        os.close(read_fd)
    return process, f":{number}"


def start_bus(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """A private session bus (not the developer's own), run in the foreground so its PID is ours.

    Its config names no service directories: the stock session config would auto-start a
    notification daemon (dunst's D-Bus activation file) that no test started or could stop.
    """
    log = root / "dbus.log"
    config = root / "session-bus.conf"
    config.write_text(BUS_CONFIG, encoding="utf-8")
    with log.open("wb") as err:
        process = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
            env=env, stdout=subprocess.PIPE, stderr=err,
        )  # fmt: skip
    assert process.stdout is not None
    address = _read_line(process.stdout.fileno(), "dbus-daemon", log)
    return process, address


def _start_dunst(root: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    dmenu = root / "dmenu.sh"
    dmenu.write_text(DMENU.format(choice=root / "dmenu-choice"), encoding="utf-8")
    dmenu.chmod(0o755)
    (root / "dmenu-choice").write_text("", encoding="utf-8")
    rc = root / "dunstrc"
    rc.write_text(DUNSTRC.format(dmenu=dmenu), encoding="utf-8")
    with (root / "dunst.log").open("wb") as out:
        process = subprocess.Popen(["dunst", "-config", str(rc)], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    # Ready once it owns org.freedesktop.Notifications (dunstctl talks to that name).
    while subprocess.run(["dunstctl", "is-paused"], env=env, capture_output=True, check=False).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"dunst did not start; its log: {root / 'dunst.log'}")
        time.sleep(0.1)
    return process


@pytest.fixture(scope="module")
def desktop_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    """Xvfb + a session bus + dunst for one test module; the test process sees them through its env."""
    _need_binaries()
    root = tmp_path_factory.mktemp("desktop")
    env = dict(os.environ)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    desktop = Desktop(env=env, root=root)
    try:
        x, env["DISPLAY"] = _start_x(root, env)
        desktop.processes.append(x)
        bus, env["DBUS_SESSION_BUS_ADDRESS"] = start_bus(root, env)
        desktop.processes.append(bus)
        desktop.processes.append(_start_dunst(root, env))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DISPLAY", env["DISPLAY"])
            patch.setenv("DBUS_SESSION_BUS_ADDRESS", env["DBUS_SESSION_BUS_ADDRESS"])
            yield desktop
    finally:
        for process in reversed(desktop.processes):
            stop(process)


@pytest.fixture()
def desktop(desktop_session: Desktop) -> Iterator[Desktop]:
    """The module's desktop with no notification on screen before and after the test."""
    desktop_session.dunstctl("close-all")
    desktop_session.wait_displayed(0)
    yield desktop_session
    desktop_session.dunstctl("close-all")
