"""Foundations every package builds on: settings, database, errors, reference tables."""
