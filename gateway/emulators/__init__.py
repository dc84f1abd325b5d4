"""Local stand-ins for the outside services, speaking their real wire protocols.

They exist so that the gateway can be developed, demonstrated and tested offline through the real SDKs.
"""
