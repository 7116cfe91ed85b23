"""The cluster tier: agentlog on clusters it starts (several brokers, Redis Cluster, processes), with kills."""
