"""Card-key uploads parsed as a stream: the same result whatever the block boundaries, and nothing read ahead."""

from __future__ import annotations

import codecs
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyrelay.inventory import decoding, parsing
from keyrelay.inventory.parsing import MAX_LINE_BYTES, InvalidLine, KeyFileError, KeyLine, iter_key_lines, parse_key_text

Outcome = tuple[object, ...]


class Trickle:
    """A binary file whose every read returns at most ``size`` bytes, like a slow pipe."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size, self.reads = data, size, 0

    def read(self, size: int = -1, /) -> bytes:
        piece, self.data = self.data[: self.size], self.data[self.size :]
        self.reads += 1
        return piece


def _outcome(source: decoding.KeySource, fmt: parsing.KeyFormat = "text") -> Outcome:
    try:
        result = parse_key_text(source, fmt)
    except KeyFileError as exc:
        return ("rejected", exc.code, exc.message, exc.byte_offset)
    return ("parsed", result.keys, result.invalid, result.duplicates_in_file)


SAMPLES = [
    b"A\r\nB\rC\nD",
    b"  A-1  \r\n\r\n\tB-2\r\r\rC-3\r",
    "\ufeff卡密-1\n卡密-2\n".encode(),
    "é-1\nü-2\n€-3\n𝄞-4\n".encode(),
    "卡密-1\r\nKEY-2\r\n".encode("utf-16"),
    codecs.BOM_UTF16_BE + "KEY-1\nKEY-2\n".encode("utf-16-be"),
    b"AAAA\nQQ\xffQQ\n",
    b"\xef\xbb\xbfAB\xc3(",
    b"OK-1\nOK-2\nTRUNC-\xe2\x82",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"OK\nBAD-\xff\nLATER\x00NUL\n",
    b"GOOD-1\nBA\x01D\nGOOD-2\n",
    b"\xff\xfeA\x00B",
    b"A\nB\n  A\nC\nB\nA\n",
    b"X" * (MAX_LINE_BYTES + 1) + b"\r\nOK\n" + b" " * (MAX_LINE_BYTES * 3) + b"\nY" * 2,
]
CSV_SAMPLES = [
    b'id,key,note\r\n1,A,"two\r\nlines"\r\n2,"B",x\r3,A,\n',
    b'key\n"a,b"\n"c\nd"\n',
    b"A-1\r\n\r\nuser----pass\r\n",
    b'key\n"unterminated\nA\nB\n',
    b'key\n"unterminated\nA\nB\x00\n',
    b"card,secret\nA,B\nC\x00D\n",
    b"id,key\n1,\n2\n3,K\x01\n4,OK\n",
]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
@pytest.mark.parametrize("data", SAMPLES, ids=[f"sample{i}" for i in range(len(SAMPLES))])
def test_text_blocks_of_any_size_parse_like_one_block(data: bytes, size: int) -> None:
    assert _outcome(Trickle(data, size)) == _outcome(data)


@pytest.mark.parametrize("size", [1, 2, 3, 7])
@pytest.mark.parametrize("data", CSV_SAMPLES, ids=[f"csv{i}" for i in range(len(CSV_SAMPLES))])
def test_csv_blocks_of_any_size_parse_like_one_block(data: bytes, size: int) -> None:
    assert _outcome(Trickle(data, size), "csv") == _outcome(data, "csv")


_PIECES = st.sampled_from(
    [b"A", b"b-1", b" ", b"\t", b"\r", b"\n", b"\r\n", b",", b'"', "é".encode(), "卡".encode(), b"\xff", b"\xe2\x82", b"\x00", b"\x01"]
)


@given(st.lists(_PIECES, max_size=60), st.integers(1, 9), st.sampled_from(["text", "csv"]), st.booleans())
def test_property_block_boundaries_never_change_the_outcome(pieces: list[bytes], size: int, fmt: parsing.KeyFormat, bom: bool) -> None:
    data = (codecs.BOM_UTF8 if bom else b"") + b"".join(pieces)
    assert _outcome(Trickle(data, size), fmt) == _outcome(data, fmt)


def test_str_input_in_many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    data = "\ufeffA\r\nB\rC\n" + "é" * (MAX_LINE_BYTES // 2 + 1) + "\nD"
    whole = _outcome(data)
    monkeypatch.setattr(decoding, "BLOCK_BYTES", 3)
    assert _outcome(data) == whole
    message = f"the line is {MAX_LINE_BYTES + 2} bytes; the limit is {MAX_LINE_BYTES}"
    assert whole[2] == [InvalidLine(4, parsing.InvalidReason.TOO_LONG, message)]


def test_an_endless_line_is_measured_not_kept() -> None:
    data = b"OK-1\n" + "é".encode() * 50_000 + b"\nOK-2\n"
    result = parse_key_text(Trickle(data, 1000))
    assert result.keys == [KeyLine(1, "OK-1"), KeyLine(3, "OK-2")]
    assert [(bad.line_no, bad.message) for bad in result.invalid] == [(2, f"the line is 100000 bytes; the limit is {MAX_LINE_BYTES}")]


def test_a_long_blank_line_is_still_blank() -> None:
    assert parse_key_text(Trickle(b" " * 20_000 + b"\nK\n", 100)).keys == [KeyLine(2, "K")]


def test_a_bad_byte_in_a_later_block_reports_its_file_offset_and_line() -> None:
    data = b"\xef\xbb\xbf" + b"KEY-1\n" * 1000 + "卡".encode() + b"\xff\n"
    error = _outcome(Trickle(data, 7))
    assert error == ("rejected", "bad_encoding", error[2], 3 + 6000 + 3)
    assert "line 1001" in str(error[2])


def test_a_csv_line_without_end_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsing, "_MAX_CSV_LINE_CHARS", 100)
    assert _outcome(Trickle(b"key\n" + b"A" * 500, 10), "csv")[:2] == ("rejected", "bad_csv")


def test_lines_are_yielded_before_the_file_is_read_to_the_end() -> None:
    stream = Trickle(b"".join(b"KEY-%d\n" % i for i in range(1000)), 100)
    entries: Iterator[KeyLine | InvalidLine] = iter_key_lines(stream)
    assert next(entries) == KeyLine(1, "KEY-0")
    assert stream.reads <= 2
    assert len(list(entries)) == 999
