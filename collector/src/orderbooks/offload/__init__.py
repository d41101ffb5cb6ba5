"""Getting the data off the host: rclone, the remote, upload with verification, prune."""
