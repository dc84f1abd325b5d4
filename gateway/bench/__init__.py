"""``voice-gateway bench``: how many concurrent phone calls this machine carries, and what each costs.

Emulated ACS calls stream real speech in real time (20 ms frames, each carrying a marker) through the gateway,
served as deployed, to the Realtime emulator, which talks back; the same load then goes through a bare relay for
the floor. See ``cli.py`` for the command and ``README`` for the figures.
"""
