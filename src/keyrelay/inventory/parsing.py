"""Parse uploaded card-key files into keys, per-line problems and duplicates.

Suppliers send keys as plain text (one per line) or CSV exports, in whatever
encoding their tools produced. Whole-file problems (empty, binary, undecodable,
malformed CSV) raise ``KeyFileError`` so the upload is refused outright; a bad
single line becomes an ``InvalidLine`` so the rest of a large batch still
imports. Secrets never appear in any error code or message: these end up in
logs, audit rows and the console.

Line numbers are 1-based physical lines of the file, where CRLF, LF and a lone
CR each end a line; for CSV it is the line a record starts on.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

MAX_LINE_BYTES = 4096
"""Longest accepted text line, in UTF-8 bytes without the line ending."""
MAX_KEY_CHARS = 4096
"""Longest accepted key in characters; bounds CSV fields, which may span lines."""
KEY_COLUMN_NAMES = ("key", "card", "secret", "code", "卡密", "card_key")
"""CSV header names (case-insensitive) recognised as the key column."""

KeyFormat = Literal["text", "csv"]
CsvColumn = str | int | None

# Tab is legitimate inside keys; everything else in Cc (plus lone surrogates,
# which only str input can carry) breaks copy-paste redemption.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_BINARY_BYTES = bytes([*range(0x09), *range(0x0E, 0x20), 0x7F])
_NOT_BINARY_BYTES = bytes(b for b in range(256) if b not in _BINARY_BYTES)
_BINARY_MIN_COUNT = 16
_BINARY_RATIO = 0.10
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class KeyFileErrorCode(StrEnum):
    """Stable codes for whole-file rejections."""

    EMPTY_FILE = "empty_file"
    BINARY_FILE = "binary_file"
    BAD_ENCODING = "bad_encoding"
    BAD_CSV = "bad_csv"


class InvalidReason(StrEnum):
    """Stable codes for a single rejected line."""

    TOO_LONG = "too_long"
    CONTROL_CHARACTERS = "control_characters"
    EMPTY_FIELD = "empty_field"
    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMNS = "extra_columns"


class KeyFileError(ValueError):
    """The whole upload is unusable; ``code`` is stable, the message is for people."""

    def __init__(self, code: KeyFileErrorCode, message: str, *, byte_offset: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.byte_offset = byte_offset
        """Offset of the first undecodable byte, for ``bad_encoding``."""


@dataclass(frozen=True, slots=True)
class KeyLine:
    """A well-formed key with surrounding whitespace removed."""

    line_no: int
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A rejected line; ``reason`` is a stable code, ``message`` is for people."""

    line_no: int
    reason: InvalidReason
    message: str


@dataclass(slots=True)
class ParseResult:
    """Unique keys in file order, rejected lines, and lines repeating a key.

    A repeated key is kept once (its first line) in ``keys``; later lines are
    listed in ``duplicates_in_file`` so the same key is never imported twice.
    """

    keys: list[KeyLine] = field(default_factory=list)
    invalid: list[InvalidLine] = field(default_factory=list)
    duplicates_in_file: list[int] = field(default_factory=list)


def sniff_format(filename: str | None, data: bytes) -> KeyFormat:
    """Choose the parser from the file name; ``data`` is reserved for content sniffing."""
    if filename and os.path.splitext(filename)[1].lower() == ".csv":
        return "csv"
    return "text"


def parse_key_text(data: bytes | str, fmt: KeyFormat = "text", csv_column: CsvColumn = None) -> ParseResult:
    """Parse a whole upload; raises ``KeyFileError`` for whole-file problems."""
    result = ParseResult()
    first_line_of: dict[str, int] = {}
    for entry in iter_key_lines(data, fmt, csv_column):
        if isinstance(entry, InvalidLine):
            result.invalid.append(entry)
        elif entry.secret in first_line_of:
            result.duplicates_in_file.append(entry.line_no)
        else:
            first_line_of[entry.secret] = entry.line_no
            result.keys.append(entry)
    return result


def iter_key_lines(data: bytes | str, fmt: KeyFormat = "text", csv_column: CsvColumn = None) -> Iterator[KeyLine | InvalidLine]:
    """Yield every non-blank line as a key or a rejection, without de-duplicating."""
    text = _to_text(data)
    if fmt == "text":
        entries = _text_entries(text)
    elif fmt == "csv":
        entries = _csv_entries(text, csv_column)
    else:
        raise ValueError(f"unknown key file format {fmt!r}")
    found = False
    for entry in entries:
        found = True
        yield entry
    if not found:
        raise KeyFileError(KeyFileErrorCode.EMPTY_FILE, "the file contains no card keys")


# --- decoding -----------------------------------------------------------------


def _to_text(data: bytes | str) -> str:
    """Decode UTF-8 (optional BOM) or BOM-marked UTF-16, refusing binary files."""
    if isinstance(data, str):
        _reject_binary(data.encode("utf-8", "surrogatepass"))
        return data.removeprefix("\ufeff")
    offset = 0
    if data.startswith(_UTF16_BOMS):
        data = _utf16_to_utf8(data)
    elif data.startswith(codecs.BOM_UTF8):
        data, offset = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
    _reject_binary(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The bad byte itself is not shown: it may sit inside a secret.
        line_no = data.count(b"\n", 0, exc.start) + 1
        raise KeyFileError(
            KeyFileErrorCode.BAD_ENCODING,
            f"the file is not valid UTF-8: undecodable byte at offset {exc.start + offset} (line {line_no}); save it as UTF-8",
            byte_offset=exc.start + offset,
        ) from None


def _utf16_to_utf8(data: bytes) -> bytes:
    try:
        return data.decode("utf-16").encode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(KeyFileErrorCode.BAD_ENCODING, "the file has a UTF-16 BOM but is not valid UTF-16") from None


def _reject_binary(data: bytes) -> None:
    if b"\x00" in data:
        raise KeyFileError(KeyFileErrorCode.BINARY_FILE, "the file is binary (contains NUL bytes)")
    # translate() deletes every ordinary byte in C, leaving only the control bytes.
    controls = len(data.translate(None, _NOT_BINARY_BYTES))
    if controls >= _BINARY_MIN_COUNT and controls > _BINARY_RATIO * len(data):
        raise KeyFileError(KeyFileErrorCode.BINARY_FILE, "the file looks binary (too many control bytes)")


# --- lines and fields -----------------------------------------------------------


def _check_secret(line_no: int, secret: str) -> KeyLine | InvalidLine:
    if _CONTROL_RE.search(secret):
        return InvalidLine(
            line_no,
            InvalidReason.CONTROL_CHARACTERS,
            "the key contains control characters (only tab is allowed)",
        )
    if len(secret) > MAX_KEY_CHARS:
        return InvalidLine(
            line_no,
            InvalidReason.TOO_LONG,
            f"the key is {len(secret)} characters; the limit is {MAX_KEY_CHARS}",
        )
    return KeyLine(line_no, secret)


def _utf8_len(text: str) -> int:
    # Up to 4 bytes per character, so short lines skip the encode.
    if len(text) * 4 <= MAX_LINE_BYTES:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _text_entries(text: str) -> Iterator[KeyLine | InvalidLine]:
    # Not str.splitlines(): it also splits on \v, \f, \x1c-\x1e, \x85 and
    # U+2028, which would shift line numbers and hide control characters.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for line_no, line in enumerate(lines, start=1):
        secret = line.strip()
        if not secret:
            continue
        size = _utf8_len(line)
        if size > MAX_LINE_BYTES:
            yield InvalidLine(
                line_no,
                InvalidReason.TOO_LONG,
                f"the line is {size} bytes; the limit is {MAX_LINE_BYTES}",
            )
        else:
            yield _check_secret(line_no, secret)


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (start line, fields) for every non-blank CSV record."""
    # newline="" keeps quoted line breaks intact; strict=True turns an
    # unbalanced quote into an error instead of swallowing the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for row in reader:
            line_no, start = start, reader.line_num + 1
            if any(cell.strip() for cell in row):
                yield line_no, row
    except csv.Error as exc:
        raise KeyFileError(KeyFileErrorCode.BAD_CSV, f"malformed CSV near line {reader.line_num}: {exc}") from None


def _csv_entries(text: str, csv_column: CsvColumn) -> Iterator[KeyLine | InvalidLine]:
    records = _csv_records(text)
    first = next(records, None)
    if first is None:
        return
    column, has_header = _choose_column(first[1], csv_column)
    rows = records if has_header else _chain_first(first, records)
    for line_no, row in rows:
        yield _check_row(line_no, row, column)


def _chain_first(first: tuple[int, list[str]], rest: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    yield first
    yield from rest


def _check_row(line_no: int, row: list[str], column: int | None) -> KeyLine | InvalidLine:
    """Pick the key field; ``column is None`` means one key per row."""
    if column is None:
        if len(row) > 1:
            return InvalidLine(
                line_no,
                InvalidReason.EXTRA_COLUMNS,
                f"the row has {len(row)} columns but the file has one key per row",
            )
        column = 0
    if column >= len(row):
        return InvalidLine(line_no, InvalidReason.MISSING_COLUMN, f"the row has no column {column + 1}")
    secret = row[column].strip()
    if not secret:
        return InvalidLine(line_no, InvalidReason.EMPTY_FIELD, "the key column is empty")
    return _check_secret(line_no, secret)


def _choose_column(first_row: list[str], csv_column: CsvColumn) -> tuple[int | None, bool]:
    """Return (key column or None for single-column, whether row 1 is a header)."""
    names = [cell.strip().casefold() for cell in first_row]
    known = [i for i, name in enumerate(names) if name in KEY_COLUMN_NAMES]
    if isinstance(csv_column, str):
        wanted = csv_column.strip().casefold()
        if wanted not in names:
            raise KeyFileError(KeyFileErrorCode.BAD_CSV, f"no column named {csv_column!r} in the header row")
        return names.index(wanted), True
    if isinstance(csv_column, int):
        if csv_column < 0:
            raise ValueError("csv_column index must be 0 or more")
        return csv_column, bool(known)
    if len(known) > 1:
        found = ", ".join(repr(first_row[i].strip()) for i in known)
        raise KeyFileError(
            KeyFileErrorCode.BAD_CSV,
            f"several columns could hold the key ({found}); choose one explicitly",
        )
    if known:
        return known[0], True
    if len(first_row) == 1:
        return None, False
    raise KeyFileError(
        KeyFileErrorCode.BAD_CSV,
        f"the CSV has {len(first_row)} columns and none is named {'/'.join(KEY_COLUMN_NAMES)}; choose the key column explicitly",
    )
