"""LLM provider layer: provider resolution, SDK clients, chat loop, SSE framing and PII scrubbing."""
