"""Parse uploaded card-key files into keys, per-line problems and duplicates.

Suppliers send keys as plain text (one per line) or CSV exports, in whatever
encoding their tools produced. Whole-file problems (empty, binary, undecodable,
malformed CSV) raise ``KeyFileError`` so the upload is refused outright; a bad
single line becomes an ``InvalidLine`` so the rest of a large batch still
imports. Secrets never appear in any error code or message: these end up in
logs, audit rows and the console.

Line numbers are 1-based physical lines of the file, where CRLF, LF and a lone
CR each end a line; for CSV it is the line a record starts on.

Parsing streams: ``iter_key_lines`` reads the upload block by block
(``decoding``) and yields each line as soon as it is complete, so a file of
millions of keys never sits in memory. A whole-file problem may therefore be
raised after some lines were yielded; it still wins over any bad line.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from keyrelay.inventory.decoding import KeyFileError as KeyFileError
from keyrelay.inventory.decoding import KeyFileErrorCode as KeyFileErrorCode
from keyrelay.inventory.decoding import KeySource as KeySource
from keyrelay.inventory.decoding import text_blocks

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
# A CSV line holds at most a few keys; one this long is not a key file (and must not fill memory).
_MAX_CSV_LINE_CHARS = 1 << 20
_CSV_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")


class InvalidReason(StrEnum):
    """Stable codes for a single rejected line."""

    TOO_LONG = "too_long"
    CONTROL_CHARACTERS = "control_characters"
    EMPTY_FIELD = "empty_field"
    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMNS = "extra_columns"


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


def parse_key_text(data: KeySource, fmt: KeyFormat = "text", csv_column: CsvColumn = None) -> ParseResult:
    """Parse a whole upload into memory; raises ``KeyFileError`` for whole-file problems."""
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


def iter_key_lines(data: KeySource, fmt: KeyFormat = "text", csv_column: CsvColumn = None) -> Iterator[KeyLine | InvalidLine]:
    """Yield every non-blank line as a key or a rejection, without de-duplicating, reading ``data`` as it goes.

    Raises ``KeyFileError`` for a whole-file problem, possibly after yielding
    some lines: the caller must treat lines it already got as void.
    """
    if fmt not in ("text", "csv"):
        raise ValueError(f"unknown key file format {fmt!r}")
    blocks = text_blocks(data)
    entries = _text_entries(blocks) if fmt == "text" else _csv_entries(_physical_lines(blocks), csv_column)
    found = False
    try:
        for entry in entries:
            found = True
            yield entry
    except KeyFileError:
        # A bad CSV is found mid-file, but a binary or undecodable file (known
        # only at its end) outranks it, as when decoding came first: read on.
        for _ in blocks:
            pass
        raise
    if not found:
        raise KeyFileError(KeyFileErrorCode.EMPTY_FILE, "the file contains no card keys")


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
    return _utf8_size(text)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _text_entries(blocks: Iterable[str]) -> Iterator[KeyLine | InvalidLine]:
    line_no = 0
    carry = ""  # the unfinished last line so far
    # Of a line already known to be too long only its size is kept, so one
    # endless line cannot fill memory; blank tells whether it was all whitespace.
    dropped, blank = 0, True
    for block in blocks:
        text = carry + block
        # A CR ending the block may be the first half of a CRLF: keep it for the next block.
        held = "\r" if text.endswith("\r") else ""
        # Not str.splitlines(): it also splits on \v, \f, \x1c-\x1e, \x85 and
        # U+2028, which would shift line numbers and hide control characters.
        lines = text[: len(text) - len(held)].replace("\r\n", "\n").replace("\r", "\n").split("\n")
        carry = lines.pop()
        for line in lines:
            line_no += 1
            entry = _text_entry(line_no, line, dropped, blank)
            dropped, blank = 0, True
            if entry is not None:
                yield entry
        if len(carry) > MAX_LINE_BYTES:  # at least a byte per character: too long already
            dropped, blank = dropped + _utf8_size(carry), blank and not carry.strip()
            carry = ""
        carry += held
    entry = _text_entry(line_no + 1, carry.removesuffix("\r"), dropped, blank)
    if entry is not None:
        yield entry


def _text_entry(line_no: int, line: str, dropped: int = 0, blank: bool = True) -> KeyLine | InvalidLine | None:
    """The entry for one line, of which ``dropped`` earlier bytes were let go; None for a blank line."""
    secret = line.strip()
    if not secret and blank:
        return None
    size = dropped + _utf8_size(line) if dropped else _utf8_len(line)
    if size > MAX_LINE_BYTES:
        return InvalidLine(line_no, InvalidReason.TOO_LONG, f"the line is {size} bytes; the limit is {MAX_LINE_BYTES}")
    return _check_secret(line_no, secret)


def _physical_lines(blocks: Iterable[str]) -> Iterator[str]:
    """Lines with their endings, as ``open(newline="")`` gives them to ``csv``: CRLF, LF and a lone CR each end one."""
    carry = ""
    lines = 0
    for block in blocks:
        text = carry + block
        # A CR ending the block may be the first half of a CRLF: leave it for the next block.
        end = len(text) - 1 if text.endswith("\r") else len(text)
        taken = 0
        for match in _CSV_LINE_RE.finditer(text, 0, end):
            lines += 1
            yield match.group()
            taken = match.end()
        carry = text[taken:]
        if len(carry) > _MAX_CSV_LINE_CHARS:
            raise KeyFileError(KeyFileErrorCode.BAD_CSV, f"line {lines + 1} is longer than {_MAX_CSV_LINE_CHARS:,} characters")
    if carry:
        yield carry


def _csv_records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """Yield (start line, fields) for every non-blank CSV record."""
    # Lines keep their endings so quoted line breaks stay intact; strict=True turns
    # an unbalanced quote into an error instead of swallowing the rest of the file.
    reader = csv.reader(lines, strict=True)
    start = 1
    try:
        for row in reader:
            line_no, start = start, reader.line_num + 1
            if any(cell.strip() for cell in row):
                yield line_no, row
    except csv.Error as exc:
        raise KeyFileError(KeyFileErrorCode.BAD_CSV, f"malformed CSV near line {reader.line_num}: {exc}") from None


def _csv_entries(lines: Iterable[str], csv_column: CsvColumn) -> Iterator[KeyLine | InvalidLine]:
    records = _csv_records(lines)
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
