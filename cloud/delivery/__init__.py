"""Alert delivery: one dispatch step hands every committed alert to each channel (sockets,
push)."""
