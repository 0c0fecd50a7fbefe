"""The Telegram edge: receive updates, translate them, send replies."""
