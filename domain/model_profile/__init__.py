"""Model profiles per (role, deployment mode): which model, where, with which settings."""
