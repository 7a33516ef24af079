"""The streaming half of a key import: parsed lines in, encrypted rows out, one chunk at a time.

Only one chunk is ever held (``IMPORT_CHUNK`` distinct keys with their
ciphertexts), so memory stays flat whatever the size of the file. Duplicates
are found by the database rather than by a set of every fingerprint: each
chunk asks the store which of its keys the product already has (stored
before, or by an earlier chunk of this very file, which the transaction sees),
and only the others are encrypted and inserted. Within a chunk a dict keeps
the first line of each key.

Once a line is invalid the import is lost: nothing more is stored, but the
rest of the file is read to count what is wrong. What earlier chunks stored
is the caller's to roll back (``service.import_keys`` runs in a savepoint).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from keyrelay.inventory.bulk import KeyStore
from keyrelay.inventory.parsing import InvalidLine, KeyLine
from keyrelay.kit.vault import Vault

IMPORT_CHUNK = 5000
"""Distinct keys fingerprinted, looked up and stored together."""
DUPLICATE_LINES_KEPT = 1000
"""Duplicate line numbers kept for the report (the first ones); the count stays exact."""
INVALID_LINES_KEPT = 100
"""Invalid lines kept for the rejection (the first ones); the count stays exact."""

Progress = Callable[[int, int | None], None]
"""``progress(stored, total)`` after every chunk; ``total`` is None until the end of the file."""


@dataclass
class ImportTally:
    """What a run through the file found."""

    imported: int = 0
    duplicates: int = 0
    duplicate_lines: list[int] = field(default_factory=list)
    """The first ``DUPLICATE_LINES_KEPT`` duplicate lines, ascending."""
    invalid: int = 0
    invalid_lines: list[InvalidLine] = field(default_factory=list)
    """The first ``INVALID_LINES_KEPT`` invalid lines, in file order."""

    def count_duplicates(self, line_nos: list[int]) -> None:
        """Add one chunk's duplicate lines (all after those of earlier chunks)."""
        self.duplicates += len(line_nos)
        room = DUPLICATE_LINES_KEPT - len(self.duplicate_lines)
        if room > 0:
            self.duplicate_lines.extend(sorted(line_nos)[:room])

    def count_invalid(self, bad: InvalidLine) -> None:
        self.invalid += 1
        if len(self.invalid_lines) < INVALID_LINES_KEPT:
            self.invalid_lines.append(bad)


@dataclass
class _Chunk:
    keys: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)
    """fingerprint → (first line, secret) for each distinct key of the chunk."""
    repeats: list[int] = field(default_factory=list)
    """Lines repeating a key of this chunk."""


def store_keys(
    entries: Iterable[KeyLine | InvalidLine],
    store: KeyStore,
    *,
    vault: Vault,
    scope: bytes,
    aad: bytes,
    chunk_size: int = IMPORT_CHUNK,
    progress: Progress | None = None,
) -> ImportTally:
    """Fingerprint, de-duplicate, encrypt and store ``entries`` chunk by chunk, as they arrive."""
    tally = ImportTally()
    chunk = _Chunk()
    fingerprint_of = vault.fingerprinter(scope)
    for entry in entries:
        if isinstance(entry, InvalidLine):
            tally.count_invalid(entry)
            continue
        if tally.invalid:
            continue  # the batch will be refused: store nothing more
        secret = entry.secret.encode()
        fingerprint = fingerprint_of(secret)
        if fingerprint in chunk.keys:
            chunk.repeats.append(entry.line_no)
            continue
        chunk.keys[fingerprint] = (entry.line_no, secret)
        if len(chunk.keys) >= chunk_size:
            _store_chunk(chunk, store, vault, aad, tally)
            chunk = _Chunk()
            if progress:
                progress(tally.imported, None)
    if not tally.invalid:
        _store_chunk(chunk, store, vault, aad, tally)
        if progress:
            progress(tally.imported, tally.imported)
    return tally


def _store_chunk(chunk: _Chunk, store: KeyStore, vault: Vault, aad: bytes, tally: ImportTally) -> None:
    stored = store.stored(list(chunk.keys)) if chunk.keys else set()
    rows = [(vault.encrypt(secret, aad), fingerprint) for fingerprint, (_, secret) in chunk.keys.items() if fingerprint not in stored]
    if rows:
        store.insert(rows)
    tally.imported += len(rows)
    tally.count_duplicates(chunk.repeats + [line_no for fingerprint, (line_no, _) in chunk.keys.items() if fingerprint in stored])
