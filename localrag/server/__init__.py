"""The HTTP shell over the engine: native API, OpenAI-compatible API, and the web page."""
