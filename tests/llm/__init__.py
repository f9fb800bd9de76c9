"""The LLM provider layer against a fake OpenAI-compatible server."""
