"""The extraction driver, its local and Ray backends, scheduler partitions, merging and re-aggregation."""
