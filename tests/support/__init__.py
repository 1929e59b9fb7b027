"""Test helpers: real services started for the tests, and wire-level fakes."""
