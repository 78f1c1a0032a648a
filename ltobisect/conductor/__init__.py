"""The conductor and its steps: the session, loading, confirming, searching and verifying, the
builds after the search, the failures of a log, the bisection of commits, the previews without a
build."""
