"""When the assistant may interrupt at all, whatever the agent wants to say.

Field studies of proactive assistants found mid-task interruptions dismissed most of the
time, and open-source assistants are criticised for notification fatigue; so the person's
attention is a budget the loop spends carefully: a cap per hour, nothing while they are
away (the notification would pile up unseen), nothing over a full-screen app or a call,
and nothing while they have snoozed the assistant.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

#: Apps during which a notification would interrupt a call, a presentation or a recording.
DEFAULT_QUIET_APPS = ["zoom", "teams", "meet", "obs", "skype", "slack call", "webex", "discord", "vlc", "mpv"]

HOUR = 3600.0


class Attention(BaseModel):
    """The person's attention budget; `allows` says whether one more notification fits."""

    max_per_hour: int = Field(default=4, ge=0, description="At most this many notifications in any 60 minutes.")
    quiet_apps: list[str] = Field(
        default_factory=lambda: list(DEFAULT_QUIET_APPS),
        description="Lower-case fragments of app names (full-screen, calls) during which nothing is shown.",
    )
    snooze_until: float | None = Field(default=None, description="Unix seconds until which nothing is shown.")

    def quiet_app(self, active_app: str | None) -> str | None:
        """The quiet-list entry matching the active app, if any."""
        if not active_app:
            return None
        name = active_app.lower()
        return next((fragment for fragment in self.quiet_apps if fragment.lower() in name), None)

    def allows(self, now: float, afk: bool, active_app: str | None, shown_times: Sequence[float]) -> tuple[bool, str]:
        """(allowed, reason); the reason is logged so a silent hour can be explained."""
        if self.snooze_until is not None and now < self.snooze_until:
            return False, f"snoozed for {self.snooze_until - now:.0f} s more"
        if afk:
            return False, "the person is away (AFK)"
        app = self.quiet_app(active_app)
        if app is not None:
            return False, f"quiet app in front ({app})"
        recent = [t for t in shown_times if now - HOUR < t <= now]
        if len(recent) >= self.max_per_hour:
            return False, f"hourly cap reached ({len(recent)}/{self.max_per_hour} in the last hour)"
        return True, "allowed"
