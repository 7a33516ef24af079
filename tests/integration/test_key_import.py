"""Card-key import: counts, de-duplication with line numbers, all-or-nothing batches, encryption at rest."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from factories import ACTOR, import_keys, key_secrets, make_category, make_product
from sqlalchemy import select

from keyrelay.audit import service as audit
from keyrelay.inventory import service as inventory
from keyrelay.inventory.models import CardKey, ImportBatch
from keyrelay.inventory.parsing import KeyFileError, KeyFileErrorCode
from keyrelay.kit.db import Database
from keyrelay.kit.errors import Conflict, ValidationFailed
from keyrelay.kit.vault import Vault

from .support import count, stock


def _import(
    db: Database, vault: Vault, product_id: int, data: bytes | str, fmt: str = "text", source: str = "txt"
) -> inventory.ImportReport:
    with db.transaction() as s:
        return inventory.import_keys(s, product_id=product_id, data=data, fmt=fmt, source=source, vault=vault, actor=ACTOR)


@pytest.fixture
def product_id(db: Database, vault: Vault) -> int:
    with db.transaction() as s:
        return make_product(s, vault).id


def test_paste_import_counts_keys_and_records_a_batch(db: Database, vault: Vault, product_id: int) -> None:
    report = _import(db, vault, product_id, "\n".join(key_secrets(25)), source="paste")
    assert (report.imported, report.duplicates, report.duplicate_lines) == (25, 0, [])
    assert stock(db, product_id) == {"available": 25, "reserved": 0, "sold": 0}
    with db.transaction(write=False) as s:
        batch = s.get(ImportBatch, report.batch_id)
        assert batch is not None
        assert (batch.product_id, batch.source, batch.imported, batch.duplicates) == (product_id, "paste", 25, 0)


def test_txt_file_with_crlf_bom_and_blank_lines(db: Database, vault: Vault, product_id: int) -> None:
    data = b"\xef\xbb\xbfAAAA-1111\r\n\r\n  BBBB-2222  \r\nCCCC-3333\r\n"
    report = _import(db, vault, product_id, data)
    assert report.imported == 3
    assert stock(db, product_id)["available"] == 3


def test_csv_import_picks_the_key_column(db: Database, vault: Vault, product_id: int) -> None:
    data = 'id,key,note\n1,CSV-AAAA-1,first\n2,CSV-AAAA-2,second\n3,"CSV-AAAA-3",third\n'
    report = _import(db, vault, product_id, data, fmt="csv", source="csv")
    assert report.imported == 3
    with db.transaction(write=False) as s:
        rows = inventory.list_keys(s, product_id=product_id)
        secrets = sorted(inventory.reveal_key(s, key_id=row.id, vault=vault, actor=ACTOR).secret for row in rows)
    assert secrets == ["CSV-AAAA-1", "CSV-AAAA-2", "CSV-AAAA-3"]


def test_duplicates_in_the_file_and_in_stock_are_skipped_with_line_numbers(db: Database, vault: Vault, product_id: int) -> None:
    first = _import(db, vault, product_id, "K-1\nK-2\nK-3\n")
    assert first.imported == 3
    # line 1 new, 2 stored, 3 new, 4 repeats line 1, 5 blank, 6 stored, 7 repeats line 3 (after trimming)
    second = _import(db, vault, product_id, "K-4\nK-2\nK-5\nK-4\n\nK-1\n  K-5 \n")
    assert (second.imported, second.duplicates, second.duplicate_lines) == (2, 4, [2, 4, 6, 7])
    assert stock(db, product_id)["available"] == 5
    with db.transaction(write=False) as s:
        batch = s.get(ImportBatch, second.batch_id)
        assert batch is not None
        assert (batch.imported, batch.duplicates) == (2, 4)


def test_a_file_of_only_duplicates_imports_nothing(db: Database, vault: Vault, product_id: int) -> None:
    _import(db, vault, product_id, "D-1\nD-2\n")
    again = _import(db, vault, product_id, "D-2\nD-1\n")
    assert (again.imported, again.duplicate_lines) == (0, [1, 2])
    assert stock(db, product_id)["available"] == 2


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("X" * 4097, "too_long"),
        ("bad\x0bkey", "control_characters"),
        ("esc\x1b[31m", "control_characters"),
        ("del\x7fkey", "control_characters"),
    ],
)
def test_one_invalid_line_rejects_the_whole_batch(db: Database, vault: Vault, product_id: int, bad_line: str, reason: str) -> None:
    data = "\n".join(["GOOD-1", "GOOD-2", bad_line, "GOOD-3"])
    with pytest.raises(ValidationFailed) as caught:
        _import(db, vault, product_id, data)
    assert caught.value.extra["invalid"] == [{"line": 3, "reason": reason}]
    assert bad_line not in str(caught.value)
    assert count(db, CardKey, CardKey.product_id == product_id) == 0
    assert count(db, ImportBatch, ImportBatch.product_id == product_id) == 0


def test_a_line_of_exactly_4_kib_is_accepted(db: Database, vault: Vault, product_id: int) -> None:
    assert _import(db, vault, product_id, "Y" * 4096).imported == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", KeyFileErrorCode.EMPTY_FILE),
        (b"\n  \r\n\t\n", KeyFileErrorCode.EMPTY_FILE),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", KeyFileErrorCode.BINARY_FILE),
        (bytes(range(1, 9)) * 8, KeyFileErrorCode.BINARY_FILE),
        ("卡密-1\n卡密-2\n".encode("gbk"), KeyFileErrorCode.BAD_ENCODING),
        (b"OK-1\nBAD-\xff\xfe-2\n", KeyFileErrorCode.BAD_ENCODING),
    ],
)
def test_unusable_files_are_refused_with_a_stable_code(
    db: Database, vault: Vault, product_id: int, data: bytes, code: KeyFileErrorCode
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _import(db, vault, product_id, data)
    assert caught.value.extra["reason"] == code.value
    cause = caught.value.__cause__
    assert isinstance(cause, KeyFileError)
    assert cause.code == code
    assert count(db, ImportBatch, ImportBatch.product_id == product_id) == 0


def test_malformed_csv_is_refused(db: Database, vault: Vault, product_id: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _import(db, vault, product_id, 'key\n"unterminated,1\nX-2\n', fmt="csv")
    assert caught.value.extra["reason"] == KeyFileErrorCode.BAD_CSV.value


def test_ciphertext_at_rest_never_contains_the_plaintext(db: Database, vault: Vault, product_id: int) -> None:
    secrets = key_secrets(5, prefix="PLAINTEXT-MARKER")
    with db.transaction() as s:
        import_keys(s, vault, product_id, secrets)
    with db.transaction(write=False) as s:
        rows = s.execute(select(CardKey.ciphertext, CardKey.fingerprint).where(CardKey.product_id == product_id)).all()
    assert len(rows) == 5
    for blob, fingerprint in rows:
        blob = bytes(blob)
        assert b"PLAINTEXT-MARKER" not in blob
        assert all(secret.encode() not in blob for secret in secrets)
        assert Vault.key_id_of(blob) == vault.active_key_id
        assert len(bytes(fingerprint)) == 32


def test_fingerprints_are_scoped_per_product(db: Database, vault: Vault) -> None:
    shared = ["SAME-KEY-1", "SAME-KEY-2"]
    with db.transaction() as s:
        category = make_category(s)
        one, two = make_product(s, vault, category_id=category.id), make_product(s, vault, category_id=category.id)
        assert import_keys(s, vault, one.id, shared).imported == 2
        assert import_keys(s, vault, two.id, shared).imported == 2  # the same key may be sold under another product
        assert import_keys(s, vault, one.id, shared).imported == 0
    with db.transaction(write=False) as s:
        by_product = {
            pid: {bytes(fp) for fp in s.scalars(select(CardKey.fingerprint).where(CardKey.product_id == pid))} for pid in (one.id, two.id)
        }
    assert len(by_product[one.id]) == len(by_product[two.id]) == 2
    assert by_product[one.id].isdisjoint(by_product[two.id])


def test_import_is_audited_without_secrets(db: Database, vault: Vault, product_id: int) -> None:
    _import(db, vault, product_id, "AUDIT-SECRET-1\nAUDIT-SECRET-2\n")
    with db.transaction(write=False) as s:
        [entry] = audit.recent(s, action="keys.import")
    assert (entry.target_id, entry.detail["imported"], entry.detail["duplicates"]) == (str(product_id), 2, 0)
    assert "AUDIT-SECRET" not in repr(entry.detail)


def test_concurrent_imports_of_overlapping_files_store_each_key_once(db: Database, vault: Vault, product_id: int) -> None:
    secrets = key_secrets(40, prefix="RACE")
    files = [secrets[i * 10 : i * 10 + 20] for i in range(3)]  # neighbours share 10 keys

    def upload(lines: list[str]) -> bool:
        try:
            _import(db, vault, product_id, "\n".join(lines))
        except Conflict:
            return False  # lost the race on a shared key: nothing of this file landed, the uploader retries
        return True

    with ThreadPoolExecutor(max_workers=3) as pool:
        landed = list(pool.map(upload, files))
    with db.transaction(write=False) as s:
        rows = inventory.list_keys(s, product_id=product_id)
        stored = [inventory.reveal_key(s, key_id=row.id, vault=vault, actor=ACTOR).secret for row in rows]
    assert any(landed)
    assert len(stored) == len(set(stored))
    assert set(stored) == {key for lines, ok in zip(files, landed, strict=True) if ok for key in lines}
