"""Consents: an enterprise's permission for one bank client to read named data."""
