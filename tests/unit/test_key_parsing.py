"""Card-key upload parsing: encodings, whole-file errors, per-line checks, CSV."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyrelay.inventory.parsing import (
    MAX_LINE_BYTES,
    InvalidLine,
    KeyFileError,
    KeyLine,
    ParseResult,
    iter_key_lines,
    parse_key_text,
    sniff_format,
)


def _secrets(result: ParseResult) -> list[str]:
    return [key.secret for key in result.keys]


def _file_error(data: bytes | str, fmt: str = "text", **kwargs: object) -> KeyFileError:
    with pytest.raises(KeyFileError) as info:
        parse_key_text(data, fmt, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- whole-file problems ---------------------------------------------------------


@pytest.mark.parametrize("data", [b"", "", b"\n\n", b"  \r\n\t\n   ", "\ufeff", b"\xef\xbb\xbf \n"])
def test_empty_and_blank_files(data: bytes | str) -> None:
    assert _file_error(data).code == "empty_file"


def test_csv_with_only_a_header_is_empty() -> None:
    assert _file_error(b"key\n\n", "csv").code == "empty_file"


@pytest.mark.parametrize(
    "data",
    [b"ABC\x00DEF\n", b"\x00", "ABC\x00\n", b"\xef\xbb\xbfA\x00", bytes(range(1, 9)) * 10],
)
def test_binary_files(data: bytes | str) -> None:
    assert _file_error(data).code == "binary_file"


def test_a_few_control_bytes_are_per_line_not_binary() -> None:
    result = parse_key_text(b"GOOD-1\nBA\x01D\nGOOD-2\n")
    assert _secrets(result) == ["GOOD-1", "GOOD-2"]
    assert result.invalid == [
        InvalidLine(2, "control_characters", result.invalid[0].message)  # type: ignore[arg-type]
    ]
    assert "BA" not in result.invalid[0].message


def test_bad_utf8_reports_byte_offset_without_the_byte() -> None:
    error = _file_error(b"AAAA\nQQ\xffQQ\n")
    assert error.code == "bad_encoding"
    assert error.byte_offset == 7
    assert "offset 7" in error.message
    assert "line 2" in error.message
    assert "QQ" not in error.message
    assert "0xff" not in error.message.lower()


def test_bad_utf8_offset_counts_the_bom() -> None:
    assert _file_error(b"\xef\xbb\xbfAB\xc3(").byte_offset == 5


def test_gbk_file_is_bad_encoding() -> None:
    assert _file_error("卡密一\n卡密二\n".encode("gbk")).code == "bad_encoding"


def test_utf8_bom_is_dropped() -> None:
    result = parse_key_text("\ufeffKEY-1\nKEY-2\n".encode())
    assert _secrets(result) == ["KEY-1", "KEY-2"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(codec: str) -> None:
    data = "\ufeff卡密-1\r\nKEY-2\r\n".encode(codec)
    if codec == "utf-16":
        data = "卡密-1\r\nKEY-2\r\n".encode(codec)  # this codec writes its own BOM
    result = parse_key_text(data)
    assert _secrets(result) == ["卡密-1", "KEY-2"]
    assert [key.line_no for key in result.keys] == [1, 2]


def test_broken_utf16_is_bad_encoding() -> None:
    assert _file_error(b"\xff\xfeA\x00B").code == "bad_encoding"


def test_utf16_with_nul_is_binary() -> None:
    assert _file_error("A\x00B".encode("utf-16")).code == "binary_file"


# --- text files -----------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings_and_numbering(newline: str) -> None:
    data = newline.join(["  A-1  ", "", "\tB-2", "", "", "C-3"]) + newline
    result = parse_key_text(data.encode())
    assert result.keys == [KeyLine(1, "A-1"), KeyLine(3, "B-2"), KeyLine(6, "C-3")]
    assert result.invalid == []
    assert result.duplicates_in_file == []


def test_mixed_line_endings() -> None:
    result = parse_key_text(b"A\r\nB\rC\nD")
    assert [(k.line_no, k.secret) for k in result.keys] == [(1, "A"), (2, "B"), (3, "C"), (4, "D")]


def test_other_unicode_separators_do_not_split_lines() -> None:
    result = parse_key_text("A\u2028B\nC\x0cD\n")
    assert _secrets(result) == ["A\u2028B"]
    assert [(bad.line_no, bad.reason) for bad in result.invalid] == [(2, "control_characters")]


def test_inner_tabs_and_separators_are_kept() -> None:
    result = parse_key_text("user----pass\nA\tB\n")
    assert _secrets(result) == ["user----pass", "A\tB"]


def test_line_over_4k_is_too_long() -> None:
    lines = ["OK-1", "x" * MAX_LINE_BYTES, "y" * (MAX_LINE_BYTES + 1), "OK-2"]
    result = parse_key_text("\n".join(lines).encode())
    assert [k.line_no for k in result.keys] == [1, 2, 4]
    assert [(bad.line_no, bad.reason) for bad in result.invalid] == [(3, "too_long")]
    assert "4097" in result.invalid[0].message
    assert "yyy" not in result.invalid[0].message


def test_line_limit_is_in_utf8_bytes() -> None:
    fits = "卡" * (MAX_LINE_BYTES // 3)
    too_long = "卡" * (MAX_LINE_BYTES // 3 + 1)
    result = parse_key_text(f"{fits}\n{too_long}\n")
    assert _secrets(result) == [fits]
    assert [(bad.line_no, bad.reason) for bad in result.invalid] == [(2, "too_long")]


def test_duplicates_within_file() -> None:
    result = parse_key_text(b"A\nB\n  A\nC\nB\nA\n")
    assert _secrets(result) == ["A", "B", "C"]
    assert result.duplicates_in_file == [3, 5, 6]


def test_str_input_with_lone_surrogate_is_flagged() -> None:
    result = parse_key_text("OK\nBAD\ud800\n")
    assert [(bad.line_no, bad.reason) for bad in result.invalid] == [(2, "control_characters")]


def test_iter_key_lines_streams_without_dedup() -> None:
    entries = list(iter_key_lines(b"A\nA\n"))
    assert entries == [KeyLine(1, "A"), KeyLine(2, "A")]


def test_key_line_repr_hides_secret() -> None:
    assert "HIDDEN" not in repr(KeyLine(1, "HIDDEN"))


def test_unknown_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="format"):
        parse_key_text(b"A", "xml")  # type: ignore[arg-type]


_LINE = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs")),
    min_size=1,
    max_size=60,
).filter(lambda s: s.isprintable() and s.strip() != "")


@given(st.lists(_LINE, max_size=40))
def test_property_lines_roundtrip(lines: list[str]) -> None:
    data = "\n".join(lines)
    if not lines:
        assert _file_error(data.encode()).code == "empty_file"
        return
    result = parse_key_text(data.encode())
    stripped = [line.strip() for line in lines]
    assert _secrets(result) == list(dict.fromkeys(stripped))
    assert result.invalid == []
    seen: set[str] = set()
    repeats = []
    for line_no, secret in enumerate(stripped, start=1):
        if secret in seen:
            repeats.append(line_no)
        seen.add(secret)
    assert result.duplicates_in_file == repeats


@given(st.lists(_LINE, min_size=1, max_size=40, unique_by=str.strip))
def test_property_unique_lines_roundtrip_exactly(lines: list[str]) -> None:
    result = parse_key_text("\n".join(lines))
    assert _secrets(result) == [line.strip() for line in lines]


# --- CSV --------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["key", "Card", " SECRET ", "code", "卡密", "card_key"])
def test_csv_header_names(header: str) -> None:
    data = f"id,{header},note\n1,K-1,x\n2, K-2 ,\n".encode()
    result = parse_key_text(data, "csv")
    assert result.keys == [KeyLine(2, "K-1"), KeyLine(3, "K-2")]


def test_csv_header_only_single_column() -> None:
    assert _secrets(parse_key_text(b"key\nA\nB\n", "csv")) == ["A", "B"]


def test_csv_headerless_single_column() -> None:
    result = parse_key_text(b"A-1\r\n\r\nuser----pass\r\n", "csv")
    assert result.keys == [KeyLine(1, "A-1"), KeyLine(3, "user----pass")]


def test_csv_single_column_row_with_extra_fields_is_invalid() -> None:
    result = parse_key_text(b"A\nB,C\nD\n", "csv")
    assert _secrets(result) == ["A", "D"]
    assert [(bad.line_no, bad.reason) for bad in result.invalid] == [(2, "extra_columns")]


def test_csv_multiple_columns_without_key_column() -> None:
    error = _file_error(b"A,B\nC,D\n", "csv")
    assert error.code == "bad_csv"
    assert "A" not in error.message.replace("CSV", "")


def test_csv_ambiguous_key_columns() -> None:
    error = _file_error(b"card,secret\nA,B\n", "csv")
    assert error.code == "bad_csv"
    assert "'card'" in error.message


def test_csv_column_by_name_and_index() -> None:
    data = b"serial,pin\n1,P-1\n2,P-2\n"
    assert _secrets(parse_key_text(data, "csv", "PIN")) == ["P-1", "P-2"]
    assert _secrets(parse_key_text(b"1,P-1\n2,P-2\n", "csv", 1)) == ["P-1", "P-2"]
    assert _secrets(parse_key_text(b"n,key\n1,P-1\n", "csv", 1)) == ["P-1"]
    assert _file_error(data, "csv", csv_column="nope").code == "bad_csv"


def test_csv_row_problems_are_per_line() -> None:
    data = b"id,key\n1,\n2\n3,K\x01\n4,OK\n"
    result = parse_key_text(data, "csv")
    assert _secrets(result) == ["OK"]
    assert [(bad.line_no, bad.reason) for bad in result.invalid] == [
        (2, "empty_field"),
        (3, "missing_column"),
        (4, "control_characters"),
    ]


def test_csv_line_numbers_follow_quoted_newlines_and_duplicates() -> None:
    data = b'id,key,note\n1,A,"two\nlines"\n2,"B",x\n3,A,\n'
    result = parse_key_text(data, "csv")
    assert result.keys == [KeyLine(2, "A"), KeyLine(4, "B")]
    assert result.duplicates_in_file == [5]


def test_csv_quoted_key_with_comma_and_newline() -> None:
    result = parse_key_text(b'key\n"a,b"\n"c\nd"\n', "csv")
    assert _secrets(result) == ["a,b"]
    assert [(bad.line_no, bad.reason) for bad in result.invalid] == [(3, "control_characters")]


@pytest.mark.parametrize("data", [b'key\n"unterminated\nA\nB\n', b'key\n"A"x\n'])
def test_malformed_csv(data: bytes) -> None:
    assert _file_error(data, "csv").code == "bad_csv"


@given(st.lists(_LINE, min_size=1, max_size=30, unique_by=str.strip))
def test_property_csv_writer_roundtrip(secrets: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "Key"])
    writer.writerows([i, secret] for i, secret in enumerate(secrets))
    result = parse_key_text(buffer.getvalue().encode(), "csv")
    assert _secrets(result) == [secret.strip() for secret in secrets]
    assert [key.line_no for key in result.keys] == list(range(2, len(secrets) + 2))


# --- format sniffing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("keys.csv", "csv"), ("KEYS.CSV", "csv"), ("keys.txt", "text"), ("keys", "text"), (None, "text")],
)
def test_sniff_format(filename: str | None, expected: str) -> None:
    assert sniff_format(filename, b"a,b\n") == expected
