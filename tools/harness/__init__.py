"""The harness: disposable VPS, rehearsal, soak, kill campaign and demo (not the gate, not test helpers)."""
