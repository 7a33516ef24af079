"""Card-key inventory: import batches, vault storage, reservation, issuance."""
