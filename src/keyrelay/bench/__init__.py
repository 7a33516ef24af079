"""``keyrelay bench``: load a scenario through the product's own code, start real servers, drive signed purchases, verify the books.

- ``scenario``: the scenarios and the data they load (products, keys, a
  three-level distributor tree with API keys and balances).
- ``load``: the load generator, run as a process of its own (``python -m
  keyrelay.bench.load``) so it never shares an interpreter with the server.
- ``verify``: what must hold after any run (no key sold twice, every
  success delivered, wallets exact, books at zero).
- ``pgbench``: the purchase's SQL replayed by ``pgbench``, the ceiling every
  figure is divided by.
- ``run``: puts it together and prints the table.

This is an edge, like the CLI: it calls the domains' services and is called
by nothing.
"""
