"""The distributor console at /distributor: a distributor's shop, prices, network, orders and money."""
