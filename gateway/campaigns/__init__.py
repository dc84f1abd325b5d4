"""Campaigns: a CSV call list kept in the store and dialled by the gateway (a concurrency limit, calling hours,
retries for busy and no answer; paused, resumed and resumed after a restart); every row ends with an outcome,
exported as CSV with a BOM. Created from the console's Campaigns view or ``voice-gateway campaign run``."""
