"""tiergate: one OpenAI-compatible endpoint that routes each request to the cheapest
adequate model tier, fails over across providers and regions, and measures what
happened."""

__version__ = "0.1.0"
