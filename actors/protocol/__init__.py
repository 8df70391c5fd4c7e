"""Pure Upbit protocol layer: event structs, frame decoder, request encoder, errors.

No pykka, no sockets, no threads here (a test guards it).
"""
