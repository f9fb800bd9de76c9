"""ProjectQA as a Model Context Protocol server (``projectqa mcp``).

A client of the gRPC server: every tool call is an RPC made with the caller's token, so
access rules, limits and audit lines stay in one place (docs/MCP.md).
"""
