"""Consent events for banks: a pollable per-client log and signed webhook delivery."""
