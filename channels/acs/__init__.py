"""Phone calls through Azure Communication Services Call Automation with bidirectional media streaming."""
