"""Deciding the tier of a request: structural signals, language, the trained intent
model (``pipeline.Classifier``) and the optional LLM second opinion (``llm``).

Nothing is imported here so that importing the package stays cheap; use
``tiergate.classify.pipeline`` and ``tiergate.classify.settings`` directly.
"""
