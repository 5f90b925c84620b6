"""UNIK training, evaluation and prediction on skeleton shards."""
