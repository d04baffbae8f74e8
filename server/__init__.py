"""devops-healer: production incidents in, reviewed pull requests out."""

__version__ = "0.1.0"
