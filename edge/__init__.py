"""The Nursery edge agent: runs on the Raspberry Pi in the nursery."""
