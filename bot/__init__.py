"""Gespreksmaatje: a Telegram bot with which clients prepare their support-plan conversation."""
