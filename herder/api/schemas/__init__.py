"""JSON schemas of request bodies, beside the handlers that use them."""
