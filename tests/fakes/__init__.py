"""Fakes that stand in for external processes (LLM providers) at their HTTP boundary."""
