"""The enterprise registry, keyed by Unified Social Credit Code (USCC)."""
