"""Read-only Polymarket BTC up/down order-book collector."""

__version__ = "0.1.0"
