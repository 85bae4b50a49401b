"""Benchmarks of the fleetgate data plane side by side with nginx, HAProxy and Python peers.

`python -m bench` (or `make bench`) starts an nginx upstream, then each proxy in turn
with one worker, drives it with wrk and prints requests/s, latency, requests per proxy
CPU-second and peak resident memory, with ratios against nginx measured in the same run.
"""
