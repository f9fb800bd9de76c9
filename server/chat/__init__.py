"""Chat: turns answered by an LLM agent with tools, or extractively, with verified citations."""
