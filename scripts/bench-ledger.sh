#!/usr/bin/env bash
# Placeholder until the ledger benchmark lands.
echo "bench-ledger: not there yet" >&2
exit 2
