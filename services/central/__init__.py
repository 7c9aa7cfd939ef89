"""Central supervision service (监管中心): every hall live in one place."""
