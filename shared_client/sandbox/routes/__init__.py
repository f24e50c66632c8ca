"""The handlers of the 12 Workflow operations, one module per area; `sandbox.operations` routes to them."""
