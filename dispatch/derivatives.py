"""The derivative of every differentiable op, written once in tensorswitch ops (work in progress)."""
