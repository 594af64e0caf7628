"""Thin entry points (HTTP webhook, MCP server) that call into common/."""
