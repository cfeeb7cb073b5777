"""The offline training API server: app factory, store, dispatcher (spec §2, §4.1)."""
