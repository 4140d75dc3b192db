"""The product catalogue: bank loan products, review workflow, eligibility and matching."""
