"""Ingestion of department files (数据归集): validation, upsert, rejection reports."""
