"""Reading build logs: normalized lines, the failures a log shows, their signatures. judge.py
bundles these modules (with model and errors) verbatim."""
