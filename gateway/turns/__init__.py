"""Turn-taking policies (issue 13): strict turns, or barge-in that pauses at once and resumes after a backchannel.

Carrier-neutral: they read only the sink's ``Playout`` and the caller's audio level, never a channel.
"""
