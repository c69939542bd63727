"""WhoWhyWhen: self-hosted API analytics and monitoring."""

__version__ = "0.1.0"
