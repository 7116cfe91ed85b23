"""HTTP API: FastAPI app factory, routes, error mapping and the write-side adapters."""
