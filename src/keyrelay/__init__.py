"""KeyRelay: sell digital goods delivered instantly as secrets, through a distributor network."""

__version__ = "0.1.0"
