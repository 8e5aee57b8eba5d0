"""User-facing errors: the CLI prints them as one line and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad input, missing file, missing extra). One line, no traceback."""


class DataError(UserError):
    """A data file is missing or malformed; the message names the file, the place, the field and the fix."""

    def __init__(self, path: object, where: str, field: str, expected: str) -> None:
        self.path, self.where, self.field, self.expected = str(path), where, field, expected
        place = f":{where}" if where else ""
        field_part = f" field '{field}':" if field else ""
        super().__init__(f"{path}{place}:{field_part} {expected}")


def missing_extra(package: str, extra: str) -> UserError:
    """Error for an optional dependency that is not installed."""
    return UserError(f"{package} is not installed: pip install 'proactive[{extra}]'")
