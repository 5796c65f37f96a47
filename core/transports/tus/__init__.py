"""tus 1.0: the client (client.py), one attempt's PATCH loop (transfer.py) and the transport that
puts them behind :class:`core.transports.base.Transport` (transport.py)."""
