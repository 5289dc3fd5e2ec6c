"""The conformance suite's gradient section (work in progress)."""
