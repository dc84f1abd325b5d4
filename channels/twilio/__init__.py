"""Phone calls through Twilio Programmable Voice with bidirectional Media Streams (the life of the call is in
``channels.telephony``; this package is Twilio's call control, wire format, media adapter and routes)."""
