"""proactive: proactive LLM agents, ProactiveBench, judges, gates and a gym, offline on a CPU."""

__version__ = "0.1.0"
