"""The distributor network: tree, invites, channels, sub-sites and the price strategy."""
