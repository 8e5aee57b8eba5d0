"""Desktop notifications with Accept / Dismiss buttons (freedesktop notifications over D-Bus).

`DesktopPresenter` is the live loop's Presenter: it shows one proposal as a notification and
waits for the person's answer. Accept is the button "Accept" or the notification's default
action (clicking it on most servers; `dunstctl action 0` on dunst); Dismiss is the button
"Dismiss" or closing the notification; no answer within `timeout_s` is "ignored", and the
notification is then withdrawn so it cannot be answered late. A notification that expires on
the server's own timer sends no answer either, so it also ends as "ignored".

`desktop-notifier` is imported lazily: the rest of `proactive` works without it.
"""

from __future__ import annotations

import asyncio
import html
import math
import subprocess
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from proactive.assist.store import Answer
from proactive.errors import UserError, missing_extra

if TYPE_CHECKING:
    from desktop_notifier import DesktopNotifier


TASK_CHARS = 300
REASON_CHARS = 160
NO_SERVER = (
    "no desktop notification server answers on the D-Bus session bus ({detail}): start one "
    "(your desktop's, or `dunst`) with DBUS_SESSION_BUS_ADDRESS set, or use `proactive assist --replay`"
)


def _desktop_notifier() -> Any:
    try:
        import desktop_notifier
    except ImportError as exc:
        raise missing_extra("desktop-notifier", "assist") from exc
    return desktop_notifier


def one_line(text: str, limit: int) -> str:
    """Whitespace collapsed to single spaces, cut at `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


ACTION_CHARS = 200


def notification_text(task: str, reason: str, action: str = "") -> str:
    """The body: the task, what Accept runs, then the one-line reason. Escaped: most servers read markup."""
    body = one_line(task, TASK_CHARS)
    if action:
        body += f"\nAccept will {one_line(action, ACTION_CHARS)}"
    why = one_line(reason, REASON_CHARS)
    if why:
        body += f"\nWhy: {why}"
    return html.escape(body, quote=False)


class DesktopPresenter:
    """Shows proposals as desktop notifications; implements proactive.assist.loop.Presenter."""

    def __init__(self, timeout_s: float = 60.0, app_name: str = "proactive", title: str = "Can I help?",
                 click_accepts: bool = False) -> None:  # fmt: skip
        if not timeout_s > 0:
            raise UserError(f"notification timeout must be positive seconds, got {timeout_s}")
        self.timeout_s = timeout_s
        self.app_name = app_name
        self.title = title
        # The default action is what a click on the notification body (or `dunstctl action 0`)
        # does. People click a notification to look at it, not to agree, so by default only the
        # Accept button gives consent; `click_accepts=True` (config `click_accepts`) opts in.
        self.click_accepts = click_accepts
        self._notifier: DesktopNotifier | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _ready_notifier(self) -> DesktopNotifier:
        """One notifier per event loop (its D-Bus connection lives on the loop), checked for buttons."""
        dn = _desktop_notifier()
        loop = asyncio.get_running_loop()
        if self._notifier is not None and self._loop is loop:
            return self._notifier
        notifier = dn.DesktopNotifier(app_name=self.app_name, app_icon=None)
        try:
            capabilities = await notifier.get_capabilities()
        except Exception as exc:  # dbus_fast raises several kinds: no bus, no name, refused
            raise UserError(NO_SERVER.format(detail=one_line(str(exc) or type(exc).__name__, 120))) from exc
        if dn.Capability.BUTTONS not in capabilities:
            raise UserError(
                "the desktop notification server shows no buttons (no 'actions' capability), so nobody could "
                "Accept or Dismiss: use a server with actions (GNOME, KDE, dunst, mako) or `proactive assist --replay`"
            )
        self._notifier, self._loop = notifier, loop
        return notifier

    async def show(self, proposal_id: int, task: str, reason: str, token: str, action: str = "") -> Answer:
        """Show the proposal and what Accept runs; wait for the answer (the token is bound by the caller)."""
        dn = _desktop_notifier()
        notifier = await self._ready_notifier()
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        dispatched: list[bool] = []

        def settle(value: Answer) -> None:
            # Servers may send both ActionInvoked and NotificationClosed: the first answer wins.
            if not answer.done():
                answer.set_result(value)

        notification = dn.Notification(
            title=self.title,
            message=notification_text(task, reason, action),
            urgency=dn.Urgency.Normal,
            buttons=(
                dn.Button(title="Accept", on_pressed=lambda: settle("accepted"), identifier="accept"),
                dn.Button(title="Dismiss", on_pressed=lambda: settle("dismissed"), identifier="dismiss"),
            ),
            on_clicked=(lambda: settle("accepted")) if self.click_accepts else None,
            on_dismissed=lambda: settle("dismissed"),
            on_dispatched=lambda: dispatched.append(True),
            # Asks the server to keep it no longer than we wait (servers may ignore this).
            timeout=math.ceil(self.timeout_s),
            identifier=f"proactive-{proposal_id}-{token[:12]}",
        )
        await notifier.send_notification(notification)
        if not dispatched:  # desktop-notifier logs delivery failures instead of raising
            raise UserError(NO_SERVER.format(detail=f"proposal {proposal_id} was not delivered"))
        server_id = _server_id(notifier, notification.identifier)
        try:
            return await asyncio.wait_for(asyncio.shield(answer), self.timeout_s)
        except TimeoutError:
            return "ignored"
        finally:
            # Withdrawn after every answer: dunst keeps a notification on screen after an action,
            # and an unanswered one must not be answerable late.
            await _close(notifier, server_id)


def _server_id(notifier: DesktopNotifier, identifier: str) -> int | None:
    """The server's id for our notification (desktop-notifier's D-Bus backend keeps it privately)."""
    ids = getattr(notifier._backend, "_platform_to_interface_notification_identifier", None)
    found = ids.inverse.get(identifier) if ids is not None else None
    return found if isinstance(found, int) else None


async def _close(notifier: DesktopNotifier, server_id: int | None) -> None:
    """CloseNotification on the server; closing one already gone is harmless (the spec allows it)."""
    interface = getattr(notifier._backend, "interface", None)
    if server_id is None or interface is None:
        return
    try:
        await interface.call_close_notification(server_id)
    except Exception:  # dbus_fast.DBusError when it is already closed; never lose the answer over it
        return


class ClipboardCommand(BaseModel):
    """The system clipboard through a command line tool (xclip by default)."""

    write_cmd: list[str] = Field(default_factory=lambda: ["xclip", "-selection", "clipboard", "-i"])
    read_cmd: list[str] = Field(default_factory=lambda: ["xclip", "-selection", "clipboard", "-o"])

    def write(self, text: str) -> None:
        # xclip stays in the background to serve the selection: it must not hold our pipes,
        # or run() would wait for it until someone else takes the clipboard.
        try:
            done = subprocess.run(self.write_cmd, input=text.encode(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=10, check=False)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UserError(f"clipboard command {self.write_cmd[0]!r} failed: {exc}; install xclip or "
                            "set the clipboard command") from exc  # fmt: skip
        if done.returncode != 0:
            raise UserError(f"clipboard command {' '.join(self.write_cmd)!r} exited {done.returncode}: is DISPLAY set?")

    def read(self) -> str:
        try:
            done = subprocess.run(self.read_cmd, capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UserError(f"clipboard command {self.read_cmd[0]!r} failed: {exc}; install xclip") from exc
        if done.returncode != 0:
            raise UserError(f"clipboard command {' '.join(self.read_cmd)!r} exited {done.returncode}: "
                            f"{one_line(done.stderr.decode(errors='replace'), 120)}")  # fmt: skip
        return done.stdout.decode()
