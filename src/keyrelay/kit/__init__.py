"""Domain-free building blocks: db session, money, crypto vault, clock, ids."""
