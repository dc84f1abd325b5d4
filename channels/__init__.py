"""Channel adapters: each turns its transport into the gateway's typed events and back."""
