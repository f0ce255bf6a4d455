"""A package whose module leaks, so that the report must name a frame below the script."""
