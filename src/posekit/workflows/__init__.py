"""Workflows that tie the layers together: extraction, datasets, self-training, protocols, UNIK training."""
