"""The views' tests again with a Redis Cluster of three masters as their Redis."""
