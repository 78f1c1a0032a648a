"""What a session writes for people and machines, rendered from the state directory alone:
report.txt, summary.json, reproduce.sh and its judge, the ld.lld reproducer."""
