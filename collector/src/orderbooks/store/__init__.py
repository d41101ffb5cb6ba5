"""The data folder: its layout, every on-disk format (written and read here),
durable writes, verify and recovery."""
