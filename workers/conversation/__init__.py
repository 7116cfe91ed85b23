"""The conversation worker: answers user messages through a responder, with tools, budgets and streaming."""
