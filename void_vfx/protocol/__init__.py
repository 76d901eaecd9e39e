"""What a client and a server agree on: port, token handshake, the copy-free RPyC channel, the
token's location. Standard library and rpyc only."""
