"""Self-training (thesis 3.3.3): SST-A pseudo labels and the fine-tuned student."""
