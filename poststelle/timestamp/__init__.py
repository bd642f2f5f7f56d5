"""RFC 3161 time-stamps: the built-in development service and the client the stamp stage uses."""
