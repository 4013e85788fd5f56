"""How the API writes the domain's values as JSON (one module per resource)."""
