"""The decision pipeline: flow resolution, the 16 node types, recommend and respond."""
