"""Every failure of accounts, sign-in, tokens and API keys, with its stable code."""

from __future__ import annotations

from keyrelay.kit.errors import N_, Conflict, DomainError, Forbidden, NotFound, Unauthorized, ValidationFailed, define
from keyrelay.kit.errors import NOT_FOUND as NOT_FOUND  # re-exported: missing things share one code


class SignatureRejected(DomainError):
    """A signed request that fails verification; the code says which check."""

    status, title = 401, "Request signature rejected"


class ScopeMissing(DomainError):
    code, status, title = "missing_scope", 403, "API key lacks a scope"


class ChannelMismatch(DomainError):
    code, status, title = "channel_mismatch", 403, "API key bound to another channel"


BAD_EMAIL = define("invalid_email", ValidationFailed, "enter a valid e-mail address", N_("Enter a valid e-mail address."))
UNKNOWN_ROLE = define("unknown_role", ValidationFailed, "role must be one of %(choices)s", N_("Choose one of the options."))
PASSWORD_TOO_SHORT = define(
    "password_too_short",
    ValidationFailed,
    "password needs at least %(min_length)s characters",
    N_("The password needs at least 8 characters."),
)
EMAIL_TAKEN = define(
    "email_taken", Conflict, "an account with this e-mail already exists", N_("An account with this e-mail already exists.")
)
WRONG_CREDENTIALS = define("wrong_credentials", Unauthorized, "wrong e-mail or password", N_("Wrong e-mail or password."))
SESSION_EXPIRED = define("session_expired", Unauthorized, "session expired, sign in again", N_("Your session expired: sign in again."))
INVALID_TOKEN = define("invalid_token", Unauthorized, "invalid token", N_("Sign in again."))
SIGN_IN_FIRST = define("unauthorized", Unauthorized, "%(hint)s", N_("Sign in first."))
HIDDEN = define("not_found", NotFound, "not found", N_("Not found."))
"""A resource the caller may not see answers exactly like one that does not exist."""
USER_NOT_FOUND = define("user_not_found", NotFound, "no such user", N_("No user has this id."))
NO_USER_WITH_EMAIL = define("user_not_found_by_email", NotFound, "no user has this e-mail address", N_("No user has this e-mail address."))
CONSOLE_ONLY = define(
    "console_only", Forbidden, "this is done from a console session, not with an API key", N_("This is done from a console session.")
)
KEY_NAME = define("api_key_name_invalid", ValidationFailed, "name must be 1–80 characters", N_("The name must be 1–80 characters."))
KEY_SCOPES = define(
    "api_key_scopes_invalid", ValidationFailed, "scopes must be a non-empty subset of %(choices)s", N_("Choose at least one permission.")
)
UNKNOWN_KEY = define("unknown_key", SignatureRejected, "no such API key")
KEY_REVOKED = define("key_revoked", SignatureRejected, "%(why)s")
STALE_TIMESTAMP = define("stale_timestamp", SignatureRejected, "X-Timestamp must be within %(max_skew_seconds)s s of the server clock")
BAD_NONCE = define("bad_nonce", SignatureRejected, "X-Nonce must be 8–64 printable characters")
BAD_SIGNATURE = define("bad_signature", SignatureRejected, "X-Signature does not match the request")
REPLAYED_NONCE = define("replayed_nonce", SignatureRejected, "this X-Nonce was already used with this key")
MISSING_SCOPE = define("missing_scope", ScopeMissing, "this API key needs the %(scope)r scope")
CHANNEL_MISMATCH = define("channel_mismatch", ChannelMismatch, "this API key sells only on channel %(channel_id)s")
