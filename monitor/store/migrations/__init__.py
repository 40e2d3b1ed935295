"""Alembic migrations of the store; ``open_store`` applies them (``upgrade head``) at start."""
