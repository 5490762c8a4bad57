"""Helpers for tests/test_browser.py: an isolated JupyterLab server (`jupyterlab`) and a notebook
driven through Chromium (`notebook`)."""
