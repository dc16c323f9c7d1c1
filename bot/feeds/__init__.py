"""Fetching feeds over HTTP (edge: httpx) and reading them into stories (edge: feedparser)."""
