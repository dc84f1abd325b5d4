"""Campaigns: a CSV call list dialled through the gateway's calls API with a concurrency limit, within calling
hours, with retries for busy and no answer; every row ends with an outcome, exported as CSV with a BOM."""
