"""agentlog's public Python interface: the typed HTTP client lives in `agentlog.client`."""
