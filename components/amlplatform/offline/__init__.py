"""Offline evaluation of stacks: the recording mock engine and what is built on it."""
