"""SQLite storage: the embedded default for the demo and single-home installs."""
