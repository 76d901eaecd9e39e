"""The logic of the host integrations, testable without the host; the files in the repository's
hosts/ folder only register it."""
