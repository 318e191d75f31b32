"""The HTTP entry point."""

from learnloop.api.app import create_app

__all__ = ["create_app"]
