"""Notify service (短信): contacts registered for a ticket or a case, SMS made from site events, sent once."""
