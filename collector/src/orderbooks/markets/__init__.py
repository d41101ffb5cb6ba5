"""Which markets exist: Gamma parsing, discovery of the tracked markets, and the market documents."""
