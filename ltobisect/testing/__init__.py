"""Support for the tests and benchmarks only: planted faults, the simulation of searches, the
Kconfig fidelity check. Nothing of the product imports it."""
