"""Loopback HTTP servers that speak each provider's exact wire protocol, with faults on demand."""
