"""REST API v1: one router per resource (sweeps, points, phase, exports, health, meta)."""
