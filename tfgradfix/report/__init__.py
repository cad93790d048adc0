"""Output formats: text, JSON, unified diff."""
