"""The handlers of the 12 Workflow operations, one module per area; `sandbox.route_table` routes to them."""
