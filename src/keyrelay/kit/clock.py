"""One place that says what time it is, always timezone-aware UTC."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current instant as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; treat those as the UTC they were stored as."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
