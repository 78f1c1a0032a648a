"""How a session is shown: the live view (the only importer of rich), the plain and JSON reporters
and the wording of events, the tty's settings."""
