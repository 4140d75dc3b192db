"""The credit model: features, training, evaluation, scoring, registry, monitoring."""
