"""The REST face: a FastAPI app over the core."""
