"""Is the collector well: its state on disk, status and alarms, metrics, heartbeat, sd_notify, clock sync."""
