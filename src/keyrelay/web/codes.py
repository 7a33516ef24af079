"""Failures found by the web edge itself (uploads, paths, unknown actions), with their stable codes."""

from __future__ import annotations

from keyrelay.kit.errors import N_, NotFound, ValidationFailed, define

FILE_TOO_LARGE = define(
    "file_too_large", ValidationFailed, "file is larger than 64 MiB; split it", N_("The file is larger than 64 MiB: split it.")
)
UNKNOWN_ACTION = define("not_found", NotFound, "unknown action %(action)r", N_("Not found."))
UNKNOWN_DECISION = define("not_found", NotFound, "unknown decision %(decision)r", N_("Not found."))
NO_SUCH_PROVIDER = define("not_found", NotFound, "no payment provider %(provider)r takes notifications here", N_("Not found."))
NO_SUCH_PAGE = define("not_found", NotFound, "no such page", N_("Not found."))
USER_MISSING = define("user_missing", NotFound, "enter the user's e-mail or id", N_("Enter the user's e-mail or id."))
