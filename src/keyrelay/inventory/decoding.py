"""Turn an upload (bytes, str, or a binary file read block by block) into text, refusing unusable files.

Memory stays flat whatever the file size: a file is read ``BLOCK_BYTES`` at a
time and no more than one block is held. The whole-file verdicts keep the
precedence they had when the whole file was checked before parsing, although
some are known only at the end: an invalid UTF-16 file first, then NUL bytes,
then too many control bytes, then bad UTF-8. So every block is still scanned
after the first undecodable byte (a PNG is called binary, not badly encoded),
and the verdict is raised after the last block. Text before it is yielded as
usual; callers rely on the exception, not on the text stopping.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain
from typing import Protocol

BLOCK_BYTES = 1 << 20
"""Bytes read (or characters sliced from a str) at a time."""

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


class KeyFileError(ValueError):
    """The whole upload is unusable; ``code`` is stable, the message is for people."""

    def __init__(self, code: KeyFileErrorCode, message: str, *, byte_offset: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.byte_offset = byte_offset
        """Offset of the first undecodable byte, for ``bad_encoding``."""


class ByteStream(Protocol):
    """A binary file open for reading (``open(path, "rb")``, an upload's spooled file)."""

    def read(self, size: int = -1, /) -> bytes: ...


KeySource = bytes | str | ByteStream
"""An upload: in memory, or a file read as it is parsed."""


@dataclass
class _BinaryScan:
    """Control-byte statistics of the whole file, for the binary verdict."""

    size: int = 0
    controls: int = 0
    nul: bool = False

    def add(self, data: bytes) -> None:
        self.size += len(data)
        self.nul = self.nul or b"\x00" in data
        # translate() deletes every ordinary byte in C, leaving only the control bytes.
        self.controls += len(data.translate(None, _NOT_BINARY_BYTES))

    def reject_binary(self) -> None:
        if self.nul:
            raise KeyFileError(KeyFileErrorCode.BINARY_FILE, "the file is binary (contains NUL bytes)")
        if self.controls >= _BINARY_MIN_COUNT and self.controls > _BINARY_RATIO * self.size:
            raise KeyFileError(KeyFileErrorCode.BINARY_FILE, "the file looks binary (too many control bytes)")


def text_blocks(source: KeySource) -> Iterator[str]:
    """Yield the upload's text in order: UTF-8 (optional BOM) or BOM-marked UTF-16.

    Raises ``KeyFileError`` for a binary or undecodable file, at the latest
    after the last block.
    """
    if isinstance(source, str):
        scan = _BinaryScan()
        scan.add(source.encode("utf-8", "surrogatepass"))  # already in memory: check it up front, as before
        scan.reject_binary()
        text = source.removeprefix("\ufeff")
        for start in range(0, len(text), BLOCK_BYTES):
            yield text[start : start + BLOCK_BYTES]
        return
    blocks = _byte_blocks(source)
    head = b""
    for block in blocks:  # enough bytes to recognise a BOM
        head += block
        if len(head) >= len(codecs.BOM_UTF8):
            break
    if head.startswith(_UTF16_BOMS):
        yield from _utf16_text(chain([head], blocks))
    elif head.startswith(codecs.BOM_UTF8):
        yield from _utf8_text(chain([head[len(codecs.BOM_UTF8) :]], blocks), bom=len(codecs.BOM_UTF8))
    else:
        yield from _utf8_text(chain([head], blocks), bom=0)


def _byte_blocks(source: bytes | ByteStream) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), BLOCK_BYTES):
            yield source[start : start + BLOCK_BYTES]
        return
    while block := source.read(BLOCK_BYTES):
        yield block


def _utf8_text(blocks: Iterator[bytes], *, bom: int) -> Iterator[str]:
    scan = _BinaryScan()
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = newlines = 0  # bytes given to the decoder so far, and the b"\n" among them
    failure: KeyFileError | None = None
    for block in blocks:
        scan.add(block)
        if failure is None:
            # The decoder keeps the start of a character split across blocks; offsets count from there.
            held = len(decoder.getstate()[0])
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                failure = _bad_utf8(exc, fed - held, newlines, bom)
            else:
                if text:
                    yield text
        fed += len(block)
        newlines += block.count(b"\n")
    if failure is None:
        held = len(decoder.getstate()[0])
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:  # the file ends inside a character
            failure = _bad_utf8(exc, fed - held, newlines, bom)
    scan.reject_binary()
    if failure is not None:
        raise failure


def _bad_utf8(exc: UnicodeDecodeError, base: int, newlines: int, bom: int) -> KeyFileError:
    """``exc`` came from decoding bytes that start at offset ``base`` (after the BOM), ``newlines`` lines in."""
    offset = base + exc.start + bom
    # Bytes the decoder held back are never b"\n", so the line count of earlier blocks stands.
    line_no = newlines + exc.object.count(b"\n", 0, exc.start) + 1
    # The bad byte itself is not shown: it may sit inside a secret.
    return KeyFileError(
        KeyFileErrorCode.BAD_ENCODING,
        f"the file is not valid UTF-8: undecodable byte at offset {offset} (line {line_no}); save it as UTF-8",
        byte_offset=offset,
    )


def _utf16_text(blocks: Iterator[bytes]) -> Iterator[str]:
    scan = _BinaryScan()
    decoder = codecs.getincrementaldecoder("utf-16")()  # reads the BOM and its byte order
    try:
        for block in blocks:
            text = decoder.decode(block)
            scan.add(text.encode("utf-8"))  # the binary check looks at the text as UTF-8, as for any other file
            if text:
                yield text
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise KeyFileError(KeyFileErrorCode.BAD_ENCODING, "the file has a UTF-16 BOM but is not valid UTF-16") from None
    scan.reject_binary()
