"""Token budgets per tenant, persona and UTC day: limits, consumption, refusals."""
