"""The tool executor (`agentlog worker tools`): policy in Rego, a registry of tools, one outcome per request."""
