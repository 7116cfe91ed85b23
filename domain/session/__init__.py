"""Conversation sessions: started, messages posted (user, assistant, system), streamed replies, closed."""
