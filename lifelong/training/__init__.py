"""Training machinery shared by the benchmarks: the Lightning module, step batches, checkpoints."""
