"""The carrier-neutral life of a phone call: pre-warm, media bridge, conversation, handoff codes, apology, end.

A carrier (ACS, Twilio) plugs in through ``carrier.CallControl`` (greet, start the bridge, apologise, hang up) and a
``carrier.MediaAdapter`` (its socket messages as typed events, its sink towards the caller).
"""
