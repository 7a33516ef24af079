"""Card-key imports stored chunk by chunk while the file is read: duplicates across chunks, late rejections, file sources."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from factories import ACTOR, make_product
from sqlalchemy import select

from keyrelay.audit import service as audit
from keyrelay.inventory import importing
from keyrelay.inventory import service as inventory
from keyrelay.inventory.models import CardKey, ImportBatch
from keyrelay.inventory.parsing import KeySource
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.errors import ValidationFailed
from keyrelay.kit.outbox import OutboxEvent
from keyrelay.kit.vault import Vault

from .support import count, stock

CHUNK = 3


def _import(
    db: Database, vault: Vault, product_id: int, data: KeySource, *, chunk_size: int = CHUNK, progress: importing.Progress | None = None
) -> inventory.ImportReport:
    with db.transaction() as s:
        return inventory.import_keys(
            s,
            product_id=product_id,
            data=data,
            fmt="text",
            source="cli",
            vault=vault,
            actor=ACTOR,
            chunk_size=chunk_size,
            progress=progress,
        )


def _secrets(db: Database, vault: Vault, product_id: int) -> list[str]:
    """Stored keys in id (= sale) order."""
    with db.transaction(write=False) as s:
        rows = sorted(inventory.list_keys(s, product_id=product_id, limit=500), key=lambda row: row.id)
        return [inventory.reveal_key(s, key_id=row.id, vault=vault, actor=ACTOR).secret for row in rows]


@pytest.fixture
def product_id(db: Database, vault: Vault) -> int:
    with db.transaction() as s:
        return make_product(s, vault).id


def test_duplicates_across_chunk_boundaries_are_skipped_with_their_lines(db: Database, vault: Vault, product_id: int) -> None:
    # chunks of 3 distinct keys: [A B C] (line 3 repeats A inside it), [D E F], [G] — line 7 and 10 repeat keys of earlier chunks
    lines = ["A", "B", "A", "C", "D", "E", "B", "F", "G", "C", "A"]
    report = _import(db, vault, product_id, "\n".join(lines))
    assert (report.imported, report.duplicates, report.duplicate_lines) == (7, 4, [3, 7, 10, 11])
    assert _secrets(db, vault, product_id) == ["A", "B", "C", "D", "E", "F", "G"]  # file order survives the chunks


def test_duplicates_of_stored_keys_are_found_in_every_chunk(db: Database, vault: Vault, product_id: int) -> None:
    _import(db, vault, product_id, "S-1\nS-5\nS-9\n")
    report = _import(db, vault, product_id, "\n".join(f"S-{i}" for i in range(1, 11)))
    assert (report.imported, report.duplicates, report.duplicate_lines) == (7, 3, [1, 5, 9])
    assert stock(db, product_id)["available"] == 10
    with db.transaction(write=False) as s:
        batch = s.get(ImportBatch, report.batch_id)
        assert batch is not None
        assert (batch.imported, batch.duplicates) == (7, 3)


def test_an_invalid_line_after_the_first_chunks_rejects_everything(db: Database, vault: Vault, product_id: int) -> None:
    lines = [f"GOOD-{i}" for i in range(10)] + ["BAD\x1bKEY"] + [f"LATER-{i}" for i in range(5)] + ["BAD\x7fAGAIN"]
    with pytest.raises(ValidationFailed) as caught:
        _import(db, vault, product_id, "\n".join(lines))
    assert caught.value.code == "invalid_key_lines"
    assert caught.value.extra["count"] == 2
    assert caught.value.extra["invalid"] == [{"line": 11, "reason": "control_characters"}, {"line": 17, "reason": "control_characters"}]
    assert count(db, CardKey, CardKey.product_id == product_id) == 0
    assert count(db, ImportBatch, ImportBatch.product_id == product_id) == 0


def test_an_undecodable_byte_after_the_first_chunks_rejects_the_file(db: Database, vault: Vault, product_id: int) -> None:
    data = b"".join(b"OK-%d\n" % i for i in range(20)) + b"BROKEN-\xff\n"
    with pytest.raises(ValidationFailed) as caught:
        _import(db, vault, product_id, io.BytesIO(data))
    assert (caught.value.code, caught.value.extra["reason"]) == ("key_file_rejected", "bad_encoding")
    assert count(db, CardKey, CardKey.product_id == product_id) == 0


def test_a_rejected_import_takes_its_keys_back_even_if_the_caller_carries_on(db: Database, vault: Vault, product_id: int) -> None:
    data = "K-1\nK-2\nK-3\nK-4\nBAD\x01\n"
    with db.transaction() as s:
        with pytest.raises(ValidationFailed):
            inventory.import_keys(s, product_id=product_id, data=data, fmt="text", source="cli", vault=vault, actor=ACTOR, chunk_size=2)
        assert s.scalars(select(CardKey.id).where(CardKey.product_id == product_id)).all() == []
        report = inventory.import_keys(s, product_id=product_id, data="K-1\nK-9\n", fmt="text", source="cli", vault=vault, actor=ACTOR)
    assert (report.imported, report.duplicates) == (2, 0)  # K-1 of the rejected batch is not a duplicate: it was never stored
    assert _secrets(db, vault, product_id) == ["K-1", "K-9"]
    with db.transaction(write=False) as s:
        assert [entry.detail["imported"] for entry in audit.recent(s, action="keys.import")] == [2]
        assert s.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic == "stock.changed")).all() == ["stock.changed"]


def test_a_file_on_disk_is_imported_from_the_open_file(db: Database, vault: Vault, product_id: int, tmp_path: Path) -> None:
    keyfile = tmp_path / "keys.txt"
    keyfile.write_bytes(b"\xef\xbb\xbf" + b"".join(b"FILE-%02d\r\n" % i for i in range(8)) + b"FILE-03\r\n")
    seen: list[tuple[int, int | None]] = []
    with keyfile.open("rb") as stream:
        report = _import(db, vault, product_id, stream, progress=lambda done, total: seen.append((done, total)))
    assert (report.imported, report.duplicate_lines) == (8, [9])
    assert seen == [(3, None), (6, None), (8, None), (8, 8)]  # the third chunk is FILE-06, FILE-07 and the repeated FILE-03
    with db.transaction(write=False) as s:
        rows = s.execute(select(CardKey.batch_id, CardKey.status, CardKey.created_at).where(CardKey.product_id == product_id)).all()
    assert {(batch_id, status) for batch_id, status, _ in rows} == {(report.batch_id, "available")}
    assert all(abs(created_at - utcnow()) < timedelta(minutes=5) for _, _, created_at in rows)
    assert _secrets(db, vault, product_id) == [f"FILE-{i:02d}" for i in range(8)]


def test_the_duplicate_line_list_is_capped_but_the_count_is_exact(
    db: Database, vault: Vault, product_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "DUPLICATE_LINES_KEPT", 4)
    report = _import(db, vault, product_id, "\n".join(["SAME"] * 12))
    assert (report.imported, report.duplicates, report.duplicate_lines) == (1, 11, [2, 3, 4, 5])


def test_sqlite_gets_its_usual_page_cache_back_after_an_import(db: Database, vault: Vault, product_id: int) -> None:
    if not db.is_sqlite:
        pytest.skip("the page cache is SQLite's")
    with db.transaction() as s:
        usual = s.connection().exec_driver_sql("PRAGMA cache_size").scalar_one()
    with pytest.raises(ValidationFailed):
        _import(db, vault, product_id, "K-1\nK-2\nK-3\nK-4\nBAD\x01\n")
    _import(db, vault, product_id, "K-1\nK-2\n")
    with db.transaction() as s:  # the write engine's single pooled connection, the one the imports used
        assert s.connection().exec_driver_sql("PRAGMA cache_size").scalar_one() == usual
