"""ltobisect: minimize a failing Linux kernel config to the few options that still fail the same way."""

__version__ = "0.1.0"
