"""Measurements: visual retrieval evaluation and throughput benchmarks."""
