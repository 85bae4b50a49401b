"""What a route's policies cost per request, measured in process (`python -m bench.policies`)."""
