"""AI-layer domain services behind the HTTP bridge and the AI helper tools (http-bridge.md section 3).

Nothing here imports a transport or a provider SDK: model access arrives as an
``LLMClient`` built by the caller (see ``services.AiServices``), so the same service
runs under the bridge, the MCP tools and tests.
"""
