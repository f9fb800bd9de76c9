"""LLM providers: OpenAI-compatible chat completions, profile resolution."""
