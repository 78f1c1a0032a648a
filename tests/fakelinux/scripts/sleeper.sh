#!/bin/sh
# A build child that ignores SIGTERM (as some do): only killing its whole group with SIGKILL stops it.
trap '' TERM
while :; do sleep 1; done
