"""Hostile and broken submissions for tests/test_threats.py (payloads in `payloads`, cases in
`cases`)."""
